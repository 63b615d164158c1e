import pytest
import torch

from agentnet import Agent, Recurrence
from agentnet import layers as L
from agentnet.environment import CartPole
from agentnet.memory import GRUCell, LSTMCell
from agentnet.resolver import EpsilonGreedyResolver, GreedyResolver
from agentnet.utils import clone_network, reapply


def mlp():
    obs = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(obs, 8, name="hidden")
    q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    return obs, hidden, q


def param_ids(layers):
    return {id(p) for p in L.get_all_params(layers)}


def perturb(params):
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn_like(p))


def test_copy_computes_the_same_with_its_own_parameters():
    torch.manual_seed(0)
    obs, hidden, q = mlp()
    q_copy = clone_network(q)
    assert q_copy is not q and q_copy.input_layers[0] is not hidden
    assert q_copy.input_layers[0].input_layers[0] is obs  # inputs are shared by default
    assert not param_ids(q) & param_ids(q_copy)
    x = torch.randn(5, 4)
    before = L.get_output(q, {obs: x})
    torch.testing.assert_close(L.get_output(q_copy, {obs: x}), before, rtol=0, atol=0)
    perturb(L.get_all_params(q))
    torch.testing.assert_close(L.get_output(q_copy, {obs: x}), before, rtol=0, atol=0)
    assert not torch.equal(L.get_output(q, {obs: x}), before)


def test_shared_parameters_are_the_same_objects():
    torch.manual_seed(1)
    obs, hidden, q = mlp()
    q_copy = clone_network(q, share_params=True)
    assert q_copy is not q
    assert [id(p) for p in L.get_all_params(q_copy)] == [id(p) for p in L.get_all_params(q)]
    perturb(L.get_all_params(q))
    x = torch.randn(5, 4)
    torch.testing.assert_close(L.get_output(q_copy, {obs: x}), L.get_output(q, {obs: x}),
                               rtol=0, atol=0)


def test_copies_have_no_stale_gradients():
    obs, _, q = mlp()
    L.get_output(q, {obs: torch.randn(3, 4)}).sum().backward()
    assert all(p.grad is None for p in L.get_all_params(clone_network(q)))


def test_bottom_layers_and_inputs_are_kept_or_copied():
    obs, hidden, q = mlp()
    kept = clone_network(q, bottom_layers=hidden)
    assert kept.input_layers[0] is hidden
    assert kept.weight is not q.weight and kept.bias is not q.bias
    assert param_ids(kept) == param_ids(hidden) | {id(kept.weight), id(kept.bias)}

    own_inputs = clone_network(q, share_inputs=False, name_prefix="copy.")
    new_obs = own_inputs.input_layers[0].input_layers[0]
    assert isinstance(new_obs, L.InputLayer) and new_obs is not obs
    assert new_obs.name == "copy.observation" and new_obs.output_shape == (None, 4)
    x = torch.randn(2, 4)
    torch.testing.assert_close(L.get_output(own_inputs, {new_obs: x}), L.get_output(q, {obs: x}))
    with pytest.raises(ValueError, match="has no value"):
        L.get_output(own_inputs, {obs: x})

    # a bottom input stays even with share_inputs=False
    kept_obs = clone_network(q, bottom_layers=[obs], share_inputs=False)
    assert kept_obs.input_layers[0].input_layers[0] is obs


def test_names_are_prefixed_and_nameless_layers_stay_nameless():
    obs = L.InputLayer((None, 3), name="obs")
    unnamed = L.DenseLayer(obs, 4)
    named = L.DenseLayer(unnamed, 2, name="out")
    copy = clone_network(named, name_prefix="target.")
    assert copy.name == "target.out" and copy.input_layers[0].name is None
    assert copy.input_layers[0].input_layers[0].name == "obs"  # kept input: not renamed
    assert named.name == "out"
    assert clone_network(named).name == "out"


def test_structure_of_the_outputs_is_mirrored():
    obs, hidden, q = mlp()
    as_list = clone_network([hidden, q])
    assert isinstance(as_list, list) and len(as_list) == 2
    assert as_list[1].input_layers[0] is as_list[0]  # one copy of hidden, read by q's copy
    as_tuple = clone_network((q, hidden))
    assert isinstance(as_tuple, tuple) and as_tuple[0].input_layers[0] is as_tuple[1]
    as_dict = clone_network({"q": q, "hidden": hidden})
    assert list(as_dict) == ["q", "hidden"] and as_dict["q"].input_layers[0] is as_dict["hidden"]
    with pytest.raises(TypeError, match="expected agentnet Layers"):
        clone_network([q, "hidden"])


def test_tied_weights_stay_tied_in_the_copy():
    obs = L.InputLayer((None, 3), name="obs")
    first = L.DenseLayer(obs, 3, name="first")
    second = L.DenseLayer(first, 3, W=first.weight, name="second")
    copy = clone_network(second)
    assert copy.weight is copy.input_layers[0].weight
    assert copy.weight is not first.weight


def test_multi_output_layers_and_an_lstm_agent_graph():
    torch.manual_seed(2)
    obs = L.InputLayer((None, 4), name="observation")
    prev_cell = L.InputLayer((None, 8), name="prev_cell")
    prev_out = L.InputLayer((None, 8), name="prev_out")
    cell, out = LSTMCell(prev_cell, prev_out, obs, name="lstm")
    q = L.DenseLayer(out, 2, nonlinearity=None, name="q")
    resolver = GreedyResolver(q, name="greedy")
    c_cell, c_out, c_q, c_resolver = clone_network([cell, out, q, resolver])
    step, c_step = cell.input_layers[0], c_cell.input_layers[0]
    assert c_step is c_out.input_layers[0] and c_step is not step  # one step, two items
    assert c_q.input_layers[0] is c_out
    assert not param_ids(c_resolver) & param_ids(resolver)

    agent = Agent(obs, {cell: prev_cell, out: prev_out}, q, resolver)
    twin = Agent(obs, {c_cell: prev_cell, c_out: prev_out}, c_q, c_resolver)
    torch.manual_seed(3)
    s = agent.get_sessions(CartPole(batch_size=3), session_length=6)
    torch.manual_seed(3)
    t = twin.get_sessions(CartPole(batch_size=3), session_length=6)
    torch.testing.assert_close(t.policy, s.policy)
    assert torch.equal(t.actions, s.actions)
    perturb(agent.parameters())
    torch.manual_seed(3)
    torch.testing.assert_close(twin.get_sessions(CartPole(batch_size=3), 6).policy, t.policy)


def gru_recurrence(steps=7):
    x_t = L.InputLayer((None, 3), name="x_t")
    h_prev = L.InputLayer((None, 5), name="h_prev")
    h = GRUCell(h_prev, x_t, name="h")
    y = L.DenseLayer(h, 2, nonlinearity=None, name="y")
    xs = L.InputLayer((None, steps, 3), name="xs")
    rec = Recurrence(input_sequences={x_t: xs}, state_variables={h: h_prev},
                     tracked_outputs=[y], name="rnn")
    return rec, h, y, xs


def test_a_copied_recurrence_owns_its_inner_graph():
    torch.manual_seed(4)
    rec, h, y, xs = gru_recurrence()
    hs, ys = rec[h], rec[y]
    c_hs, c_ys = clone_network([hs, ys], name_prefix="copy.")
    c_rec = c_hs.input_layers[0]
    assert c_ys.input_layers[0] is c_rec and c_rec is not rec
    assert c_rec.input_layers[0] is xs and c_hs.name == "copy.rnn[h]"
    # the copy's plan runs the copied inner layers, which hold new parameters
    inner = list(c_rec.inner_layers.values())
    assert all(any(layer is i for i in inner) for layer in c_rec._plan.layers)
    assert not {id(layer) for layer in inner} & {id(layer) for layer in rec.inner_layers.values()}
    assert not param_ids(c_rec) & param_ids(rec)
    assert len(list(c_rec.parameters())) == len(list(rec.parameters())) == 6

    sequence = torch.randn(2, 7, 3)
    expected = L.get_output([hs, ys], {xs: sequence})
    got = L.get_output([c_hs, c_ys], {xs: sequence})
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    perturb(rec.parameters())
    for a, b in zip(L.get_output([c_hs, c_ys], {xs: sequence}), expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    shared = clone_network(hs, share_params=True).input_layers[0]
    assert [id(p) for p in shared.parameters()] == [id(p) for p in rec.parameters()]
    torch.testing.assert_close(L.get_output(shared[shared.state_layers[0]], {xs: sequence}),
                               L.get_output(hs, {xs: sequence}))


def test_resolver_epsilon_is_copied_or_shared():
    obs, _, q = mlp()
    resolver = EpsilonGreedyResolver(q, epsilon=0.25, name="resolver")
    copy = clone_network(resolver)
    assert copy.epsilon is not resolver.epsilon and copy.epsilon.get_value() == 0.25
    resolver.epsilon.set_value(0.5)
    assert copy.epsilon.get_value() == 0.25
    with pytest.raises(ValueError, match="'resolver'"):  # the check is the copy's own
        copy.epsilon.set_value(2.0)
    shared = clone_network(resolver, share_params=True)
    resolver.epsilon.set_value(0.75)
    assert shared.epsilon.get_value() == 0.75


def test_batchnorm_statistics_are_copied_with_the_layer():
    obs = L.InputLayer((None, 3), name="obs")
    norm = L.BatchNormLayer(obs, name="norm")
    L.get_output(norm, {obs: torch.randn(16, 3) + 5})
    copy = clone_network(norm)
    torch.testing.assert_close(copy.running_mean, norm.running_mean)
    assert copy.running_mean is not norm.running_mean
    assert clone_network(norm, share_params=True).running_mean is norm.running_mean


def test_reapply_equals_get_output_with_the_other_inputs():
    torch.manual_seed(5)
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 6), name="prev")
    gru = GRUCell(prev, obs, name="gru")
    memory_only = L.DenseLayer(prev, 3, name="memory_only")
    q = L.DenseLayer(L.ConcatLayer([gru, memory_only]), 2, nonlinearity=None, name="q")
    next_obs = L.InputLayer((None, 4), name="next_observation")
    q_next = reapply(q, {obs: next_obs})
    assert param_ids(q_next) == param_ids(q)
    concat = q_next.input_layers[0]
    assert concat.input_layers[1] is memory_only  # independent of obs: not copied
    assert concat.input_layers[0] is not gru and concat.input_layers[0].input_layers == (
        prev, next_obs)
    x, m = torch.randn(5, 4), torch.randn(5, 6)
    torch.testing.assert_close(L.get_output(q_next, {next_obs: x, prev: m}),
                               L.get_output(q, {obs: x, prev: m}), rtol=0, atol=0)
    # replacing an intermediate layer: the layers above read the replacement instead
    forced = L.InputLayer((None, 6), name="forced_gru")
    q_forced = reapply(q, {gru: forced})
    h = torch.randn(5, 6)
    torch.testing.assert_close(L.get_output(q_forced, {forced: h, prev: m}),
                               L.get_output(q, {gru: h, prev: m}), rtol=0, atol=0)
    assert reapply([q], {next_obs: obs})[0] is q  # nothing depends on it: nothing copied
    with pytest.raises(TypeError, match="dict"):
        reapply(q, [obs])


def test_replacements_are_checked_and_shapes_inferred_again():
    rec, h, _, xs = gru_recurrence(steps=7)
    longer = L.InputLayer((None, 9, 3), name="longer")
    hs_longer = reapply(rec[h], {xs: longer})
    assert hs_longer.output_shape == (None, 9, 5)
    assert L.get_output(hs_longer, {longer: torch.randn(2, 9, 3)}).shape == (2, 9, 5)

    obs, _, q = mlp()
    with pytest.raises(ValueError, match=r"DenseLayer 'hidden' cannot take its inputs"):
        reapply(q, {obs: L.InputLayer((None, 5), name="wide")})
    step_layer = LSTMCell(L.InputLayer((None, 2)), L.InputLayer((None, 2)))[0].input_layers[0]
    with pytest.raises(ValueError, match="several outputs"):
        clone_network(q, bottom_layers={obs: step_layer})
    with pytest.raises(TypeError, match="map Layers to Layers"):
        clone_network(q, bottom_layers={obs: torch.zeros(2, 4)})
