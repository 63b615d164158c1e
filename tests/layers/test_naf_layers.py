"""NAF's layers: lower-triangular matrices, the quadratic advantage, the controller."""
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.layers import LowerTriangularLayer, NAFLayer, build_NAF_controller


def test_lower_triangular_fills_rows_and_exponentiates_the_diagonal():
    vector = L.InputLayer((None, 6), name="v")
    tril = LowerTriangularLayer(vector, name="tril")
    values = torch.arange(1.0, 7.0)[None]
    matrix = L.get_output(tril, {vector: values})[0]
    expected = torch.tensor([[1.0, 0, 0], [2, 3, 0], [4, 5, 6]])
    expected.diagonal().copy_(expected.diagonal().exp())
    torch.testing.assert_close(matrix, expected)
    assert tril.output_shape == (None, 3, 3)
    with pytest.raises(ValueError, match="d\\(d\\+1\\)/2"):
        LowerTriangularLayer(L.InputLayer((None, 5)), name="bad")


def test_naf_advantage_is_the_quadratic_form_and_zero_at_the_mean():
    torch.manual_seed(0)
    u, mu = L.InputLayer((None, 2), name="u"), L.InputLayer((None, 2), name="mu")
    tril = L.InputLayer((None, 2, 2), name="L")
    advantage = NAFLayer(u, mu, tril, name="A")
    values = {u: torch.randn(5, 2), mu: torch.randn(5, 2),
              tril: torch.randn(5, 2, 2).tril()}
    got = L.get_output(advantage, values)
    d = values[u] - values[mu]
    precision = values[tril] @ values[tril].transpose(1, 2)
    expected = -0.5 * torch.einsum("bi,bij,bj->b", d, precision, d)[:, None]
    torch.testing.assert_close(got, expected)
    at_mean = L.get_output(advantage, {**values, u: values[mu]})
    assert torch.equal(at_mean, torch.zeros(5, 1))


def test_controller_q_is_at_most_v_and_acts_within_bounds():
    torch.manual_seed(1)
    obs = L.InputLayer((None, 3), name="observation")
    hidden = L.DenseLayer(obs, 16, name="hidden")
    heads = build_NAF_controller(hidden, action_dimensions=2, exploration=0.5,
                                 action_low=-1.0, action_high=1.0)
    agent = Agent(obs, None, [heads["action_qvalues"], heads["state_value"], heads["means"]],
                  heads["actions"])
    reaction = agent.get_agent_reaction(None, torch.randn(64, 3))
    q, v, _ = reaction.policy
    assert (q <= v + 1e-6).all()                    # the advantage is never positive
    assert reaction.actions.abs().max() <= 1.0
    greedy = agent.get_agent_reaction(None, torch.randn(8, 3), deterministic=True)
    q, v, means = greedy.policy
    torch.testing.assert_close(greedy.actions, means.clamp(-1, 1))
