"""Registration only: importing this module imports no torch."""

import genplug

__all__ = ["GENPLUG_API", "register_architectures"]

GENPLUG_API = 1


@genplug.hookimpl
def register_architectures(register):
    register(
        genplug.ArchitectureSpec(
            name="toy-gaussian",
            family="other",
            description="a diagonal Gaussian with a learned mean and scale per dimension",
            provides=("generator", "encoder"),
            model="genplug_toy.model:ToyGaussian",
            default_weights="genplug_toy:weights",
        )
    )
    register(
        genplug.ArchitectureSpec(
            name="toy-bigram",
            family="autoregressive",
            description="a bigram table over tokens: the smallest next-token model (text through a tokenizer)",
            provides=("generator", "next-token"),
            model="genplug_toy.bigram:ToyBigram",
        )
    )
