"""Learning agents: Q-learning, SARSA, REINFORCE and A2C over the shared backbones (later issues)."""
