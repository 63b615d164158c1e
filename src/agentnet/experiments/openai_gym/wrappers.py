"""The original's ``agentnet.experiments.openai_gym.wrappers``, as Gymnasium wrappers."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.spaces import Box

__all__ = ["PreprocessImage", "FrameBuffer"]


class PreprocessImage(gymnasium.ObservationWrapper):
    """Image observations ``[h, w, colors]`` cropped (``crop(img)``), resized to ``height x
    width`` (bilinear), optionally averaged to one grayscale channel, moved to ``[colors,
    height, width]`` and scaled to float32 in ``[0, 1]`` (by 1/255), as the original's.

    """

    def __init__(self, env: gymnasium.Env, height: int = 64, width: int = 64,
                 grayscale: bool = True,
                 crop: Callable[[np.ndarray], np.ndarray] = lambda img: img):
        super().__init__(env)
        self.img_size = (height, width)
        self.grayscale = grayscale
        self.crop = crop
        n_colors = 1 if grayscale else 3
        self.observation_space = Box(0.0, 1.0, (n_colors, height, width), dtype=np.float32)

    def observation(self, observation: Any) -> np.ndarray:
        img = torch.as_tensor(np.ascontiguousarray(self.crop(np.asarray(observation))),
                              dtype=torch.float32)
        if img.dim() == 2:
            img = img[..., None]
        img = torch.nn.functional.interpolate(img.permute(2, 0, 1)[None], size=self.img_size,
                                              mode="bilinear", align_corners=False)[0]
        img = img.clamp(0, 255).round()  # the original resized to uint8 pixels
        if self.grayscale:
            img = img.mean(0, keepdim=True)
        return (img / 255.0).numpy().astype(np.float32)


class FrameBuffer(gymnasium.Wrapper):
    """The last ``n_frames`` observations stacked along a new first axis, newest first
    (zeros before the episode's first frames), as the original's."""

    def __init__(self, env: gymnasium.Env, n_frames: int = 4):
        super().__init__(env)
        shape = (n_frames, *(env.observation_space.shape or ()))
        self.observation_space = Box(0.0, 1.0, shape, dtype=np.float32)
        self.framebuffer = np.zeros(shape, dtype=np.float32)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self.framebuffer = np.zeros_like(self.framebuffer)
        self.update_buffer(observation)
        return self.framebuffer, info

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.update_buffer(observation)
        return self.framebuffer, reward, terminated, truncated, info

    def update_buffer(self, observation: Any) -> None:
        self.framebuffer = np.concatenate([np.asarray(observation, np.float32)[None],
                                           self.framebuffer[:-1]])
