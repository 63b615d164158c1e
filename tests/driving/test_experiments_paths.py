"""The original's ``agentnet.experiments`` import paths (the package is above the drivers;
its tests sit with them)."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.spaces import Box

from agentnet.driving import EnvPool
from agentnet.environment import BooleanReasoning
from agentnet.experiments.boolean_reasoning import BooleanReasoningEnvironment
from agentnet.experiments.openai_gym.pool import EnvPool as OriginalEnvPool
from agentnet.experiments.openai_gym.wrappers import FrameBuffer, PreprocessImage


class Screen(gymnasium.Env):
    """An RGB screen [20, 10, 3]: the top half white, the bottom black."""

    observation_space = Box(0, 255, (20, 10, 3), dtype=np.uint8)
    action_space = gymnasium.spaces.Discrete(2)

    def frame(self):
        img = np.zeros((20, 10, 3), dtype=np.uint8)
        img[:10] = 255
        return img

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.frame(), {}

    def step(self, action):
        return self.frame(), 1.0, False, False, {}


def test_the_names_are_agentnets():
    assert OriginalEnvPool is EnvPool
    from agentnet.experiments import boolean_reasoning
    assert boolean_reasoning.BooleanReasoning is BooleanReasoning
    # the original's class is its own (its contract, not agentnet's configurable task)
    assert BooleanReasoningEnvironment is not BooleanReasoning


@pytest.mark.parametrize("grayscale", [True, False])
def test_preprocess_image_crops_resizes_grays_and_scales(grayscale):
    env = PreprocessImage(Screen(), height=4, width=6, grayscale=grayscale,
                          crop=lambda img: img[5:15])        # 5 white rows, 5 black
    observation, _ = env.reset(seed=0)
    assert observation.shape == env.observation_space.shape == ((1 if grayscale else 3), 4, 6)
    assert observation.dtype == np.float32
    np.testing.assert_allclose(observation[:, :2], 1.0)    # the white top half
    np.testing.assert_allclose(observation[:, 2:], 0.0)    # the black bottom half


def test_frame_buffer_stacks_newest_first():
    env = FrameBuffer(PreprocessImage(Screen(), height=2, width=2), n_frames=3)
    observation, _ = env.reset(seed=0)
    assert observation.shape == (3, 1, 2, 2)
    assert observation[0].max() == 1.0 and observation[1:].max() == 0.0
    observation, *_ = env.step(0)
    assert observation[:2].min() == observation[:2].max() or observation[1].max() == 1.0
