"""Train the digit classifier whose features genplug's FD is measured in.

Run once; it writes genplug/_assets/digit_classifier.safetensors. Fixed seed, CPU,
about a minute on 2 cores:

    python scripts/train_digit_classifier.py
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from genplug._data import digits
from genplug._files import save_tensors
from genplug._metrics import DigitClassifier

OUT = Path(__file__).resolve().parents[1] / "genplug" / "_assets" / "digit_classifier.safetensors"


def main() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    train, test = digits("train"), digits("test")
    net = DigitClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    for epoch in range(60):
        net.train()
        order = torch.randperm(len(train), generator=g)
        for idx in order.split(64):
            x = train.x[idx]
            # small random shifts so the features do not depend on exact pixel placement
            dx, dy = torch.randint(-1, 2, (2,), generator=g).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(net(x), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (epoch + 1) % 20 == 0:
            net.eval()
            with torch.no_grad():
                acc = (net(test.x).argmax(-1) == test.y).float().mean()
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {acc:.4f}")
    save_tensors(OUT, net.state_dict())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
