"""Learning agents over the shared backbones: the policy family (REINFORCE, A2C) and the value family
(Q-learning, SARSA), one file each, sharing only what is not the algorithm (env construction, the
actor-critic network, optimisers, buffers).

    from agents.a2c import A2CConfig, train
    model, history = train(A2CConfig(env_id="CartPole-v1", total_timesteps=100_000))
"""
