"""12.3 mutant: in "rate" mode the encoder is trained on the ELBO as well (one backward of
nelbo to everything, then the rate's gradient added): it is not autonomous."""
from solution import *  # noqa: F401,F403


def train(prog, p, data, epochs, rng, mode, dequantise, lr=3e-5):
    model = edf.parameters(p.prior) + edf.parameters(p.decoder)
    encoder = edf.parameters(p.encoder)
    optimizer = edf.optim.Adam(model + (encoder if mode != "frozen" else []), lr=lr)
    names = prog.parameter_names(model + (encoder if mode != "frozen" else []))
    for _ in range(epochs):
        for idx in minibatches(len(data), 64, rng):
            prog.forward(y=dequantise(data[idx], rng), beta=np.float32(1.0))
            prog.backward("nelbo", wrt=names)
            optimizer.step(batch_size=len(idx))
