"""Continuous actions: Gaussian and tanh-squashed Gaussian policies, with log-probabilities.

A continuous resolver reads a mean ``[B, D]`` and a log standard deviation ``[B, D]`` (a
layer of its own, or a free parameter vector ``[D]``) and outputs a float action ``[B, D]``:
a reparameterized sample ``mean + std * noise``, differentiable with respect to the mean and
the standard deviation (an actor can be trained through it, as SAC does), or, with the flag
``greedy=True``, the mean. Its :attr:`~GaussianResolver.log_prob` and
:attr:`~GaussianResolver.entropy` are layers too, to record as policy outputs: they read the
resolver's output, so a replay that forces recorded actions through the resolver
(``agent.get_sessions(pool, experience_replay=True)``) gets the log-probabilities of the
RECORDED actions under today's weights, as PPO's ratio and SAC's losses need.
"""
from __future__ import annotations

import math
from functools import cached_property
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.base import Layer, format_shape

__all__ = ["GaussianResolver", "TanhGaussianResolver"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
#: the attribute of a sampled action that holds the Gaussian sample it was squashed from
_PRE_SQUASH = "_agentnet_pre_squash"


class GaussianResolver(Layer):
    """Samples actions from ``Normal(mean, exp(log_std))``, one per action dimension.

    Args:
        mean: a layer of float ``[B, D]`` (``D`` known), the Gaussian's mean.
        log_std: a layer of float ``[B, D]``, the log standard deviation (state-dependent);
            or None (default) for a free, state-independent parameter vector ``[D]``,
            initialised at ``log_std_init`` and held by :attr:`log_std_layer` (its parameter
            ``log_std_layer.log_std``), which outputs it broadcast to ``[B, D]``.
        log_std_init: the free log-std's initial value.
        min_log_std, max_log_std: the log-std is clamped to ``[min_log_std, max_log_std]``
            (outside, its gradient is zero) before use, in the action, ``log_prob`` and
            ``entropy`` alike.
        name: the layer's name; the free log-std, ``log_prob`` and ``entropy`` layers are
            named after it (``"<name>.log_std"``, ...).

    Output: float ``[B, D]`` in the mean's dtype and on its device: ``mean + std * eps`` with
    ``eps ~ N(0, 1)`` drawn from torch's global RNG (``torch.manual_seed`` makes it
    reproducible); gradients reach ``mean`` and ``log_std`` (reparameterization). With the flag
    ``greedy=True``: the mean.

    Layers to record as policy outputs (each made once, on first access):

    - :attr:`log_prob`: float ``[B]``, the log-density of the resolver's output, summed over
      ``D``, under the current mean and std; when the resolver's value is given (a replay
      forcing recorded actions, or ``get_output(..., inputs={resolver: actions})``), the
      log-density of those actions.
    - :attr:`entropy`: float ``[B]``, the Gaussian's entropy in closed form,
      ``sum_D(log_std + 0.5 * log(2 pi e))``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> mean = InputLayer((None, 2), name="mean")
    >>> resolver = GaussianResolver(mean, log_std_init=-1.0, name="policy")
    >>> mu = torch.tensor([[0.5, -1.0]])
    >>> get_output(resolver, {mean: mu}, greedy=True)
    tensor([[ 0.5000, -1.0000]])
    >>> _ = torch.manual_seed(0)
    >>> action, log_prob, entropy = get_output(
    ...     [resolver, resolver.log_prob, resolver.entropy], {mean: mu})
    >>> action.shape, log_prob.shape, entropy.shape
    (torch.Size([1, 2]), torch.Size([1]), torch.Size([1]))
    >>> recorded = torch.tensor([[0.5, -1.0]])   # a forced action: its log-density
    >>> get_output(resolver.log_prob, {mean: mu, resolver: recorded}).detach()
    tensor([0.1621])
    >>> resolver.log_std_layer.log_std
    Parameter containing:
    tensor([-1., -1.], requires_grad=True)
    """

    accepted_flags = frozenset({"greedy"})

    def __init__(self, mean: Layer, log_std: Layer | None = None, *, log_std_init: float = 0.0,
                 min_log_std: float = -20.0, max_log_std: float = 2.0,
                 name: str | None = None):
        where = f"{type(self).__name__} {name!r}" if name else type(self).__name__
        action_dim = _action_dim(mean, where)
        if not min_log_std < max_log_std:
            raise ValueError(f"{where}: min_log_std must be below max_log_std, got "
                             f"min_log_std={min_log_std}, max_log_std={max_log_std}")
        if log_std is None:
            if not min_log_std <= log_std_init <= max_log_std:
                raise ValueError(f"{where}: log_std_init={log_std_init} is outside "
                                 f"[min_log_std, max_log_std] = [{min_log_std}, {max_log_std}]"
                                 f" (its gradient would be zero)")
            log_std = _FreeLogStdLayer(mean, action_dim, log_std_init,
                                       name=f"{name}.log_std" if name else None)
        elif not isinstance(log_std, Layer):
            raise TypeError(f"{where}: log_std must be a layer of shape [batch, {action_dim}] "
                            f"or None (a free parameter, see log_std_init), got "
                            f"{type(log_std).__name__}")
        elif (log_std.has_multiple_outputs or len(log_std.output_shape) != 2
              or log_std.output_shape[1] != action_dim):
            raise ValueError(f"{where}: log_std {log_std.describe()} has shape "
                             f"{format_shape(log_std.output_shape)}, the mean "
                             f"{mean.describe()} {format_shape(mean.output_shape)}: expected "
                             f"(None, {action_dim})")
        super().__init__([mean, log_std], name)
        self.action_dim: int = action_dim
        self.min_log_std = float(min_log_std)
        self.max_log_std = float(max_log_std)

    # --- the layers it reads, and the layers that read it ----------------------------
    @property
    def mean_layer(self) -> Layer:
        """The layer of the mean, float ``[B, D]``."""
        return self.input_layers[0]

    @property
    def log_std_layer(self) -> Layer:
        """The layer of the (unclamped) log-std, float ``[B, D]``: the one given, or the free
        parameter's (its ``nn.Parameter`` is ``log_std_layer.log_std``, ``[D]``)."""
        return self.input_layers[1]

    @cached_property
    def log_prob(self) -> Layer:
        """A layer, float ``[B]``: the log-density of this resolver's output (sampled, or
        forced by a replay) under the current mean and std, summed over ``D``."""
        return _LogProbLayer(self, name=f"{self.name}.log_prob" if self.name else None)

    @cached_property
    def entropy(self) -> Layer:
        """A layer, float ``[B]``: the policy's entropy (see the class docstring)."""
        return _EntropyLayer(self, name=f"{self.name}.entropy" if self.name else None)

    def resample(self, name: str | None = None) -> GaussianResolver:
        """A second resolver of the same policy, drawing its own sample: the same mean and
        log-std layers (a free log-std's parameter is shared, not copied), clamps and bounds.

        A replay forces the recorded actions into this resolver, not into its resample: the
        resample's output is a fresh action ``a~ ~ pi(. | s)`` under today's weights, and its
        :attr:`log_prob` that action's (SAC's critic references and actor loss).

        >>> from agentnet.layers import InputLayer, get_all_params
        >>> policy = TanhGaussianResolver(InputLayer((None, 1)), low=-2.0, high=2.0,
        ...                               name="torque")
        >>> fresh = policy.resample("fresh_torque")
        >>> type(fresh).__name__, fresh.mean_layer is policy.mean_layer, fresh.high
        ('TanhGaussianResolver', True, tensor([2.]))
        >>> get_all_params(fresh) == get_all_params(policy)
        True
        """
        return GaussianResolver(self.mean_layer, self.log_std_layer,
                                min_log_std=self.min_log_std, max_log_std=self.max_log_std,
                                name=name)

    # --- the computation --------------------------------------------------------------
    def get_output_for(self, mean: torch.Tensor, log_std: torch.Tensor, greedy: bool = False,
                       **flags: Any) -> torch.Tensor:
        if greedy:
            return self.squash(mean)
        std = self.clamp_log_std(log_std).exp()
        return self.squash(mean + std * torch.randn_like(mean))

    def clamp_log_std(self, log_std: torch.Tensor) -> torch.Tensor:
        """``log_std`` clamped to ``[min_log_std, max_log_std]``."""
        return log_std.clamp(self.min_log_std, self.max_log_std)

    def squash(self, u: torch.Tensor) -> torch.Tensor:
        """The action for a Gaussian sample ``u`` float ``[B, D]``: ``u`` itself here."""
        return u

    def log_prob_of(self, action: torch.Tensor, mean: torch.Tensor,
                    log_std: torch.Tensor) -> torch.Tensor:
        """float ``[B]``: the log-density of ``action`` ``[B, D]`` under ``Normal(mean,
        exp(clamped log_std))``, summed over ``D``."""
        log_std = self.clamp_log_std(log_std)
        z = (action - mean) * torch.exp(-log_std)
        return (-0.5 * z * z - log_std - _HALF_LOG_2PI).sum(dim=-1)

    def entropy_of(self, action: torch.Tensor, mean: torch.Tensor,
                   log_std: torch.Tensor) -> torch.Tensor:
        """float ``[B]``: the Gaussian's entropy, ``sum_D(log_std + 0.5 + 0.5 log(2 pi))``
        (``action`` and ``mean`` are not needed)."""
        return (self.clamp_log_std(log_std) + (0.5 + _HALF_LOG_2PI)).sum(dim=-1)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, log_std in [{self.min_log_std:g}, "
                f"{self.max_log_std:g}]")


class TanhGaussianResolver(GaussianResolver):
    """A Gaussian sample squashed into the box ``[low, high]`` (SAC's policy).

    Args:
        mean, log_std, log_std_init, min_log_std, max_log_std, name: as
            :class:`GaussianResolver`; ``mean`` and ``log_std`` are those of the Gaussian
            BEFORE squashing.
        low, high: the bounds, floats or arrays / tensors ``[D]`` (e.g. a Gymnasium Box's
            ``space.low`` and ``space.high``), finite, ``low < high`` everywhere; kept as
            (non-persistent) buffers ``low`` and ``high`` that follow ``.to(device)``.

    Output: float ``[B, D]``: ``low + (tanh(u) + 1) / 2 * (high - low)`` for the reparameterized
    Gaussian sample ``u = mean + std * eps``, always within ``[low, high]``; with the flag
    ``greedy=True``, the squashed mean.

    - :attr:`log_prob`: float ``[B]``, the log-density of the action with the change of
      variables ``log N(u; mean, std) - log(1 - tanh(u)^2) - log((high - low) / 2)``, summed
      over ``D``. For an action the resolver sampled in the same pass, ``u`` is the Gaussian
      sample itself (exact, reparameterized); for any other (a forced, recorded action),
      ``u`` is computed FROM THE ACTION: ``u = atanh(y)`` with ``y`` the action rescaled to
      ``(-1, 1)`` and clamped to ``[-1 + eps, 1 - eps]`` (``eps`` the machine epsilon of the
      dtype). So a recorded action gets its own log-probability under today's weights,
      finite even on the bounds (there, the density of an action ``eps`` inside).
    - :attr:`entropy`: float ``[B]``, the entropy of the Gaussian BEFORE squashing (closed
      form, as :class:`GaussianResolver`'s). The squashed distribution's entropy has no closed
      form; ``-log_prob`` of a fresh sample is an unbiased one-sample estimate of it.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> mean = InputLayer((None, 1), name="mean")
    >>> resolver = TanhGaussianResolver(mean, low=-2.0, high=2.0, name="torque")
    >>> get_output(resolver, {mean: torch.tensor([[0.0], [100.0]])}, greedy=True)
    tensor([[0.],
            [2.]])
    >>> recorded = torch.tensor([[0.0], [2.0]])  # on the bound: still finite
    >>> get_output(resolver.log_prob, {mean: torch.zeros(2, 1), resolver: recorded}).detach()
    tensor([ -1.6121, -20.9555])
    """

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, mean: Layer, log_std: Layer | None = None, *, low: Any = -1.0,
                 high: Any = 1.0, log_std_init: float = 0.0, min_log_std: float = -20.0,
                 max_log_std: float = 2.0, name: str | None = None):
        super().__init__(mean, log_std, log_std_init=log_std_init, min_log_std=min_log_std,
                         max_log_std=max_log_std, name=name)
        low_t = self._as_bound(low, "low")
        high_t = self._as_bound(high, "high")
        bad = ~(low_t < high_t).expand(self.action_dim)
        if bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            raise ValueError(f"{self.describe()}: low must be below high in every dimension, "
                             f"got low={_show(low_t, index)} >= high={_show(high_t, index)} "
                             f"at dimension {index}")
        dtype = torch.get_default_dtype()
        self.register_buffer("low", low_t.to(dtype).expand(self.action_dim).clone(),
                             persistent=False)
        self.register_buffer("high", high_t.to(dtype).expand(self.action_dim).clone(),
                             persistent=False)

    def _as_bound(self, value: Any, what: str) -> torch.Tensor:
        """``value`` as a float64 tensor, a scalar or ``[D]``, finite; raises otherwise."""
        try:
            tensor = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{self.describe()}: {what} must be a float or an array [D], got "
                            f"{value!r}") from error
        if tensor.dim() > 1 or (tensor.dim() == 1 and tensor.shape[0] != self.action_dim):
            raise ValueError(f"{self.describe()}: {what} has shape "
                             f"{format_shape(tuple(tensor.shape))}; expected a scalar or "
                             f"({self.action_dim},) for the mean {self.mean_layer.describe()} "
                             f"{format_shape(self.mean_layer.output_shape)}")
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{self.describe()}: {what} must be finite to squash into, got "
                             f"{tensor.tolist()}")
        return tensor

    def _bounds(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loc, scale)`` ``[D]``: the box's centre and half-width, in ``like``'s dtype and
        on its device."""
        low, high = self.low.to(like), self.high.to(like)
        return (high + low) * 0.5, (high - low) * 0.5

    def get_output_for(self, mean: torch.Tensor, log_std: torch.Tensor, greedy: bool = False,
                       **flags: Any) -> torch.Tensor:
        if greedy:
            return self.squash(mean)
        u = mean + self.clamp_log_std(log_std).exp() * torch.randn_like(mean)
        action = self.squash(u)
        # the sample before squashing rides along with the action it made, for log_prob_of:
        # where tanh saturates, the action no longer tells u (see log_prob_of)
        setattr(action, _PRE_SQUASH, u)
        return action

    def squash(self, u: torch.Tensor) -> torch.Tensor:
        """``low + (tanh(u) + 1) / 2 * (high - low)``, clamped to the box against rounding."""
        loc, scale = self._bounds(u)
        return torch.clamp(loc + scale * torch.tanh(u), self.low.to(u), self.high.to(u))

    def log_prob_of(self, action: torch.Tensor, mean: torch.Tensor,
                    log_std: torch.Tensor) -> torch.Tensor:
        """float ``[B]``: the log-density of the squashed ``action`` ``[B, D]`` (see the
        class docstring), summed over ``D``.

        For an action this resolver has just sampled, from the Gaussian sample ``u`` that made
        it (exact, and reparameterized: its gradient is the one of ``mean + std * eps``);
        for any other action (a replay's recorded one), from ``u = atanh(y)``. The two agree
        until tanh saturates (``|u|`` beyond about 8 in float32), where the action no longer
        tells ``u``: there the first stays exact, which SAC's actor needs (a log-density
        recovered from a saturated action would reward pushing the mean further out)."""
        loc, scale = self._bounds(action)
        u = getattr(action, _PRE_SQUASH, None)
        if isinstance(u, torch.Tensor) and u.shape == action.shape:
            # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2 u)), stable for any u
            log_det = torch.log(scale) + 2 * (math.log(2) - u - F.softplus(-2 * u))
        else:
            eps = torch.finfo(action.dtype).eps
            y = ((action - loc) / scale).clamp(-1 + eps, 1 - eps)
            u = torch.atanh(y)
            # log |d action / d u| = log(scale) + log(1 - y^2), with 1 - y^2 = (1 - y)(1 + y)
            log_det = torch.log(scale) + torch.log1p(-y) + torch.log1p(y)
        return super().log_prob_of(u, mean, log_std) - log_det.sum(dim=-1)

    def resample(self, name: str | None = None) -> TanhGaussianResolver:
        return TanhGaussianResolver(self.mean_layer, self.log_std_layer, low=self.low,
                                    high=self.high, min_log_std=self.min_log_std,
                                    max_log_std=self.max_log_std, name=name)

    def extra_repr(self) -> str:
        low, high = self.low.tolist(), self.high.tolist()
        return f"{super().extra_repr()}, low={low}, high={high}"


class _FreeLogStdLayer(Layer):
    """A state-independent log-std: the parameter ``log_std`` ``[D]`` broadcast to the
    mean's ``[B, D]`` (in its dtype); reads the mean only for its batch size."""

    def __init__(self, mean: Layer, action_dim: int, init: float, name: str | None = None):
        super().__init__(mean, name)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(init)))

    def get_output_for(self, mean: torch.Tensor, **flags: Any) -> torch.Tensor:
        return self.log_std.to(mean.dtype).expand_as(mean)


class _LogProbLayer(Layer):
    """float ``[B]``: the resolver's ``log_prob_of(its output, mean, log_std)``."""

    def __init__(self, resolver: GaussianResolver, name: str | None = None):
        super().__init__([resolver, resolver.mean_layer, resolver.log_std_layer], name)

    def get_output_for(self, action: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        resolver = cast(GaussianResolver, self.input_layers[0])
        return resolver.log_prob_of(action, mean, log_std)


class _EntropyLayer(Layer):
    """float ``[B]``: the resolver's ``entropy_of(its output, mean, log_std)``."""

    def __init__(self, resolver: GaussianResolver, name: str | None = None):
        super().__init__([resolver, resolver.mean_layer, resolver.log_std_layer], name)

    def get_output_for(self, action: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        resolver = cast(GaussianResolver, self.input_layers[0])
        return resolver.entropy_of(action, mean, log_std)


def _action_dim(mean: Any, where: str) -> int:
    """``D`` of a mean layer ``[B, D]``; raises naming the layer and its shape otherwise."""
    if not isinstance(mean, Layer) or mean.has_multiple_outputs:
        what = mean.describe() + " (several outputs)" if isinstance(mean, Layer) else \
            type(mean).__name__
        raise TypeError(f"{where}: the mean must be a layer of float [batch, action_dim], "
                        f"got {what}")
    shape = mean.output_shape
    if len(shape) != 2 or shape[1] is None:
        raise ValueError(f"{where}: expects a mean [batch, action_dim] with a known "
                         f"action_dim, got {format_shape(shape)} from {mean.describe()}")
    if not mean.output_dtype.is_floating_point:
        raise ValueError(f"{where}: the mean {mean.describe()} must be floating point, got "
                         f"{mean.output_dtype}")
    return int(shape[1])


def _show(bound: torch.Tensor, index: int) -> float:
    """The bound's value at dimension ``index`` (a scalar bound's only value)."""
    return float(bound.reshape(-1)[index if bound.dim() else 0])
