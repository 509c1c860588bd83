"""The seed's PyTorch MobileNetV2, transcribed from /work/shared/seed/mobilenetv2-seed.txt.

Module names and nesting are the seed's (and torchvision's), so state_dict keys are
features.0.0.weight, features.1.conv.0.0.weight, ..., classifier.1.weight.

One addition to the seed: `last_channel`, which picks the rule for the last 1x1 conv:
  'seed'  -> _make_divisible(1280 * alpha)            (the seed's rule; 320/640/960 for x25/x50/x75)
  'paper' -> _make_divisible(1280 * max(1.0, alpha))  (torchvision, Keras and the paper)
For alpha >= 1.0 both rules agree.
"""

import torch
from torch import nn

LAST_CHANNEL_MODES = ("seed", "paper")


def _make_divisible(ch, divisor=8, min_ch=None):
    """Round ch to the nearest multiple of divisor (at least min_ch), never below 0.9 * ch."""
    if min_ch is None:
        min_ch = divisor
    new_ch = max(min_ch, int(ch + divisor / 2) // divisor * divisor)
    # Rounding down must not remove more than 10%.
    if new_ch < 0.9 * ch:
        new_ch += divisor
    return new_ch


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d + ReLU6, with 'same' padding for odd kernels."""

    def __init__(self, in_channel, out_channel, kernel_size=3, stride=1, groups=1):
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channel, out_channel, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_channel),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, in_channel, out_channel, stride, expand_ratio):
        super().__init__()
        hidden_channel = in_channel * expand_ratio
        # The shortcut needs identical input and output shapes.
        self.use_shortcut = stride == 1 and in_channel == out_channel

        layers = []
        if expand_ratio != 1:
            # pw
            layers.append(ConvBNReLU(in_channel, hidden_channel, kernel_size=1))
        layers.extend([
            # dw
            ConvBNReLU(hidden_channel, hidden_channel, stride=stride, groups=hidden_channel),
            # pw-linear: no ReLU after the projection (linear bottleneck)
            nn.Conv2d(hidden_channel, out_channel, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channel),
        ])
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_shortcut:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=1000, alpha=1.0, round_nearest=8, last_channel="seed", dropout=0.2):
        super().__init__()
        if last_channel not in LAST_CHANNEL_MODES:
            raise ValueError(f"last_channel should be one of {LAST_CHANNEL_MODES}, got {last_channel!r}")
        block = InvertedResidual
        input_channel = _make_divisible(32 * alpha, round_nearest)
        if last_channel == "seed":
            last = _make_divisible(1280 * alpha, round_nearest)
        else:
            last = _make_divisible(1280 * max(1.0, alpha), round_nearest)
        self.last_channel = last

        inverted_residual_setting = [
            # t, c, n, s
            [1, 16, 1, 1],
            [6, 24, 2, 2],
            [6, 32, 3, 2],
            [6, 64, 4, 2],
            [6, 96, 3, 1],
            [6, 160, 3, 2],
            [6, 320, 1, 1],
        ]

        features = [ConvBNReLU(3, input_channel, stride=2)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * alpha, round_nearest)
            for i in range(n):
                # Only the first block of each group downsamples.
                stride = s if i == 0 else 1
                features.append(block(input_channel, output_channel, stride, expand_ratio=t))
                input_channel = output_channel
        features.append(ConvBNReLU(input_channel, last, 1))
        self.features = nn.Sequential(*features)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(last, num_classes),
        )

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)  # (N, 3, 224, 224) -> (N, last, 7, 7)
        x = self.avgpool(x)  # -> (N, last, 1, 1)
        x = torch.flatten(x, 1)  # -> (N, last)
        x = self.classifier(x)  # -> (N, num_classes)
        return x


def MobileNetV2x25():
    return MobileNetV2(alpha=0.25, round_nearest=8)


def MobileNetV2x50():
    return MobileNetV2(alpha=0.5, round_nearest=8)


def MobileNetV2x75():
    return MobileNetV2(alpha=0.75, round_nearest=8)


def MobileNetV2x100():
    return MobileNetV2(alpha=1.0, round_nearest=8)
