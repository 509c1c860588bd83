"""torchsummary's `summary` (sksq96/pytorch-summary, PyPI torchsummary 1.5.1) re-implemented,
plus one line of ours: `Multiply-adds: N`.

torchsummary is not installed here, so this follows its logic step by step:
- a forward hook on every module that is not nn.Sequential, not nn.ModuleList and not the model;
- each hook call adds a row `ClassName-<k>`, k = 1 + rows so far (so rows are in hook-call
  order: a module is numbered when its forward *finishes*, after its children);
- output shape with the batch replaced by -1 (batch_size default); params = numel(weight) +
  numel(bias) when the module has them (None does not count); trainable from weight.requires_grad;
- a forward pass on torch.rand(2, *input_size) (batch 2 for BatchNorm), model left in its mode;
- sizes in MB assume 4 bytes a number; products with the -1 batch are negative, hence abs().

Multiply-adds (ours), counted by the same hooks: Conv2d = numel(output of one sample) *
(in_channels / groups) * kh * kw; Linear = in_features * out_features; everything else 0.
"""

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

RULE_EQ = "=" * 64
RULE_DASH = "-" * 64


def summary_string(model, input_size, batch_size=-1, device="cpu", with_macs=True):
    """The text torchsummary prints for `model` on input (C, H, W), with our Multiply-adds line."""
    rows = OrderedDict()
    hooks = []

    def register_hook(module):
        def hook(module, input, output):
            class_name = str(module.__class__).split(".")[-1].split("'")[0]
            m_key = "%s-%i" % (class_name, len(rows) + 1)
            row = OrderedDict()
            row["input_shape"] = list(input[0].size())
            row["input_shape"][0] = batch_size
            if isinstance(output, (list, tuple)):
                row["output_shape"] = [[-1] + list(o.size())[1:] for o in output]
            else:
                row["output_shape"] = list(output.size())
                row["output_shape"][0] = batch_size
            params = 0
            if hasattr(module, "weight") and hasattr(module.weight, "size"):
                params += int(np.prod(list(module.weight.size()), dtype=np.int64))
                row["trainable"] = module.weight.requires_grad
            if hasattr(module, "bias") and hasattr(module.bias, "size"):
                params += int(np.prod(list(module.bias.size()), dtype=np.int64))
            row["nb_params"] = params
            row["macs"] = _macs(module, output)
            rows[m_key] = row

        if not isinstance(module, nn.Sequential) and not isinstance(module, nn.ModuleList) and module is not model:
            hooks.append(module.register_forward_hook(hook))

    if isinstance(input_size, tuple):
        input_size = [input_size]
    # batch_size of 2 for batchnorm
    x = [torch.rand(2, *in_size).to(device) for in_size in input_size]
    model.apply(register_hook)
    try:
        model(*x)
    finally:
        for h in hooks:
            h.remove()

    lines = [RULE_DASH, "{:>20}  {:>25} {:>15}".format("Layer (type)", "Output Shape", "Param #"), RULE_EQ]
    total_params = 0
    total_output = 0
    trainable_params = 0
    total_macs = 0
    for layer, row in rows.items():
        lines.append("{:>20}  {:>25} {:>15}".format(layer, str(row["output_shape"]), "{0:,}".format(row["nb_params"])))
        total_params += row["nb_params"]
        total_output += int(np.prod(row["output_shape"], dtype=np.int64))
        if row.get("trainable") is True:
            trainable_params += row["nb_params"]
        total_macs += row["macs"]

    # assume 4 bytes/number (float on cuda).
    total_input_size = abs(int(np.prod(sum(input_size, ()))) * batch_size * 4.0 / (1024**2.0))
    total_output_size = abs(2.0 * total_output * 4.0 / (1024**2.0))  # x2 for gradients
    total_params_size = abs(total_params * 4.0 / (1024**2.0))
    total_size = total_params_size + total_output_size + total_input_size

    lines += [
        RULE_EQ,
        "Total params: {0:,}".format(total_params),
        "Trainable params: {0:,}".format(trainable_params),
        "Non-trainable params: {0:,}".format(total_params - trainable_params),
        RULE_DASH,
        "Input size (MB): %0.2f" % total_input_size,
        "Forward/backward pass size (MB): %0.2f" % total_output_size,
        "Params size (MB): %0.2f" % total_params_size,
        "Estimated Total Size (MB): %0.2f" % total_size,
    ]
    if with_macs:
        lines.append("Multiply-adds: {0:,}".format(total_macs))
    lines.append(RULE_DASH)
    info = {
        "rows": len(rows),
        "total_params": total_params,
        "trainable_params": trainable_params,
        "macs": total_macs,
        "forward_backward_mb": total_output_size,
    }
    return "\n".join(lines) + "\n", info


def _macs(module, output):
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        per_sample = output[0].numel()
        return per_sample * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0
