import math

import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.target_network import TargetNetwork


def q_network():
    obs = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(obs, 8, name="hidden")
    q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    return obs, hidden, q


def perturb(params):
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn_like(p))


def distance(target):
    return math.sqrt(sum(float((t.detach().double() - o.detach().double()).pow(2).sum())
                         for t, o in zip(target.target_params, target.original_params)))


def test_starts_equal_and_a_hard_update_makes_it_equal_again():
    torch.manual_seed(0)
    obs, hidden, q = q_network()
    target = TargetNetwork(q)
    assert target.output_layers.name == "target.q"
    assert [p.shape for p in target.target_params] == [p.shape for p in target.original_params]
    assert [id(p) for p in target.original_params] == [id(p) for p in L.get_all_params(q)]
    x = torch.randn(6, 4)
    torch.testing.assert_close(L.get_output(target.output_layers, {obs: x}),
                               L.get_output(q, {obs: x}), rtol=0, atol=0)
    perturb(L.get_all_params(q))
    assert distance(target) > 0
    target.load_weights()
    assert distance(target) == 0
    torch.testing.assert_close(L.get_output(target.output_layers, {obs: x}),
                               L.get_output(q, {obs: x}), rtol=0, atol=0)
    assert all(t is not o for t, o in zip(target.target_params, target.original_params))


@pytest.mark.parametrize("alpha", [0.01, 0.3, 0.5, 0.9])
def test_soft_updates_shrink_the_distance_by_one_minus_alpha(alpha):
    torch.manual_seed(1)
    obs, hidden, q = q_network()
    target = TargetNetwork(q).to(torch.float64)
    for layer in (hidden, q):
        layer.to(torch.float64)
    perturb(L.get_all_params(q))  # the original moves once, then stays frozen
    start = distance(target)
    for m in range(1, 6):
        target.load_weights(moving_average_alpha=alpha)
        assert distance(target) == pytest.approx(start * (1 - alpha) ** m, rel=1e-12)


def test_no_gradient_reaches_the_target_while_the_original_trains():
    torch.manual_seed(2)
    obs, hidden, q = q_network()
    target = TargetNetwork(q)
    x = torch.randn(5, 4)
    q_value = L.get_output(q, {obs: x})
    reference = L.get_output(target.output_layers, {obs: x})
    assert not reference.requires_grad
    ((q_value - reference).pow(2).sum() + reference.sum()).backward()
    assert all(p.grad is None and not p.requires_grad for p in target.target_params)
    assert all(p.grad is not None and p.requires_grad for p in target.original_params)


def test_load_weights_checks_alpha():
    target = TargetNetwork(q_network()[2])
    for bad in (0, 0.0, -0.5, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match=r"moving_average_alpha must be in \(0, 1\]"):
            target.load_weights(bad)
    with pytest.raises(TypeError, match="moving_average_alpha"):
        target.load_weights("half")


def test_state_dict_holds_the_target_and_to_moves_it():
    obs, hidden, q = q_network()
    target = TargetNetwork(q)
    state = target.state_dict()
    assert set(state) == {"layers.target_hidden.weight", "layers.target_hidden.bias",
                          "layers.target_q.weight", "layers.target_q.bias"}
    target_ids = {id(p) for p in target.target_params}
    assert {id(p) for p in target.parameters()} == target_ids
    assert all(p.data_ptr() in {t.data_ptr() for t in state.values()}
               for p in target.target_params)

    target.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in target.target_params)
    assert all(p.dtype == torch.float32 for p in target.original_params)
    perturb(target.original_params)
    target.load_weights(0.5)  # across dtypes
    target.load_weights()
    for t, o in zip(target.target_params, target.original_params):
        torch.testing.assert_close(t, o.double())

    fresh = TargetNetwork(q_network()[2])
    fresh.load_state_dict(target.state_dict())  # checkpoints round-trip
    for t, o in zip(fresh.target_params, target.target_params):
        torch.testing.assert_close(t, o.float())


def test_batchnorm_statistics_follow_the_original():
    obs = L.InputLayer((None, 3), name="obs")
    norm = L.BatchNormLayer(L.DenseLayer(obs, 3, name="dense"), name="norm")
    target = TargetNetwork(norm)
    L.get_output(norm, {obs: torch.randn(32, 3) + 3})  # training mode: statistics move
    target_norm = target.output_layers
    assert not torch.equal(target_norm.running_mean, norm.running_mean)
    before = target_norm.running_mean.clone()
    target.load_weights(0.25)
    torch.testing.assert_close(target_norm.running_mean,
                               before + 0.25 * (norm.running_mean - before))
    target.load_weights()
    assert torch.equal(target_norm.running_mean, norm.running_mean)
    assert torch.equal(target_norm.running_var, norm.running_var)


def test_target_of_a_recurrent_agent_reads_its_observation_and_memory():
    torch.manual_seed(3)
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 6), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    agent = Agent(obs, {gru: prev}, q, EpsilonGreedyResolver(q, name="resolver"))
    default = TargetNetwork(q)
    explicit = TargetNetwork(q, bottom_layers=[prev, obs])
    target_gru = explicit.output_layers.input_layers[0]
    assert target_gru.input_layers == (prev, obs) and target_gru is not gru
    perturb(agent.parameters())
    default.load_weights()
    explicit.load_weights()
    x, m = torch.randn(5, 4), torch.randn(5, 6)
    expected = agent.get_agent_reaction([m], x).policy
    for target in (default, explicit):
        torch.testing.assert_close(L.get_output(target.output_layers, {obs: x, prev: m}),
                                   expected)
    # a target of Q over the agent's new memory: the GRU is kept, only q is copied
    head = TargetNetwork({"q": q}, bottom_layers=gru, name_prefix="slow.")
    assert set(head.output_layers) == {"q"} and head.output_layers["q"].input_layers == (gru,)
    assert len(head.target_params) == 2 and head.output_layers["q"].name == "slow.q"


def test_a_target_without_weights_is_refused():
    obs = L.InputLayer((None, 2), name="obs")
    doubled = L.LambdaLayer(obs, lambda x: 2 * x, name="doubled")
    with pytest.raises(ValueError, match="nothing to load"):
        TargetNetwork(doubled)
    q = L.DenseLayer(obs, 2, name="q")
    with pytest.raises(ValueError, match="every layer is a bottom layer"):
        TargetNetwork(q, bottom_layers=q)
