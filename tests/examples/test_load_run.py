"""``agentnet.load_run(DIR)``: a saved run's agent and settings in one line, reading data
only."""
import json

import pytest
import torch

import agentnet
from agentnet.examples import cartpole_a2c, popgym_recurrent_ppo
from agentnet.utils import persistence
from agentnet.utils.runs import RunFolderError

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_loaded_agent_acts_as_the_trained_one(tmp_path):
    trained = cartpole_a2c.main(total_steps=2048, verbose=False, out_dir=str(tmp_path),
                                eval_episodes=1, hidden=24)["agent"]
    agent, config = agentnet.load_run(tmp_path)
    assert isinstance(config, cartpole_a2c.Config) and config.hidden == 24
    observations = torch.randn(32, 4)
    react_trained = trained.get_react_function(greedy=True)
    react_loaded = agent.get_react_function(greedy=True)
    assert torch.equal(react_trained(observations).actions, react_loaded(observations).actions)
    for mine, theirs in zip(agent.parameters(), trained.parameters()):
        assert torch.equal(mine, theirs)


def test_a_run_on_a_task_of_its_own_loads_with_its_settings(tmp_path):
    popgym_recurrent_ppo.main(total_steps=128, verbose=False, out_dir=str(tmp_path),
                              env_id="CartPole-v1", memory="window", window=4, n_envs=2,
                              session_length=16, eval_episodes=1)
    agent, config = agentnet.load_run(str(tmp_path))
    assert (config.env_id, config.memory, config.window) == ("CartPole-v1", "window", 4)
    assert agent.observation_layers[0].output_shape[-1] == 4


def test_a_folder_that_is_not_a_run_or_names_code_is_refused_and_imports_nothing(tmp_path):
    with pytest.raises(RunFolderError, match="holds no agentnet run"):
        agentnet.load_run(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (tmp_path / "config.json").write_text(json.dumps({"example": "evil", "config": {}}))
    with pytest.raises(ValueError, match="'evil' is not an agentnet example"):
        agentnet.load_run(tmp_path)
    settings = {"example": "agentnet.examples.popgym_recurrent_ppo",
                "config": {"env_id": "evil:CartPole-v1"}}
    (tmp_path / "config.json").write_text(json.dumps(settings))
    persistence.save_checkpoint(tmp_path / "checkpoint.safetensors", torch.nn.Linear(1, 1),
                                extra={"settings": settings})
    with pytest.raises(ValueError, match=r"names a module that is not imported \(evil\)"):
        agentnet.load_run(tmp_path)
    assert not marker.exists()
