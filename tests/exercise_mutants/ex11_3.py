"""11.3 mutant: the critic descends wdist instead of ascending it (backward of "wdist", not of
penalty - wdist), so the generator is pushed away from the data."""
import solution
from solution import *  # noqa: F401,F403


def train(model, data, steps, rng, batch=32, n_critic=5, lam=10.0, noise=0.5, lr=3e-3):
    c_opt = edf.optim.Adam(model.critic, lr=lr, n1=2, n2=10)
    g_opt = edf.optim.Adam(model.generator, lr=lr, n1=2, n2=10)
    c_names = model.train_c.parameter_names(model.critic)
    g_names = model.train_g.parameter_names(model.generator)
    f32 = np.float32
    for step in range(steps):
        sigma = noise * max(0.0, 1.0 - 2 * step / steps)
        for _ in range(n_critic):
            real = data[rng.integers(0, len(data), batch)]
            xr = real + sigma * rng.standard_normal(real.shape)
            xg = solution.sample(model, batch, rng) + sigma * rng.standard_normal(real.shape)
            a = rng.random((batch, 1))
            model.train_c.forward(xr=xr.astype(f32), xg=xg.astype(f32), xm=(a * xr + (1 - a) * xg).astype(f32),
                                  wr=np.full(batch, 1 / batch, f32), wg=np.full(batch, 1 / batch, f32),
                                  lam=f32(lam / batch ** 2))
            model.train_c.backward("wdist", wrt=c_names)
            c_opt.step()
        model.train_g.forward(z=rng.standard_normal((batch, 2)).astype(f32), sigma=f32(sigma),
                              noise=rng.standard_normal((batch, 2)).astype(f32), n=f32(batch))
        model.train_g.backward("gloss", wrt=g_names)
        g_opt.step()
