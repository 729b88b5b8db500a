"""The release's training arithmetic (``model.release_lora_train``) and the shared negative pass.

References are written here independently of the code under test: the LoRA forward is a
plain Llama whose projections compute ``(W - s B0 A0) x + s B A (mask * x)`` by hand, and
the shared pass is compared with the release's two separate passes.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from model_samples import make_sample, tiny_config
from uniad.model.llm import lora_layers
from uniad.model.sequence import sequence_length
from uniad.model.uniad import UniAD, previous_ad

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


def build(dtype=torch.float32, **model) -> UniAD:
    torch.manual_seed(0)
    out = UniAD.build(tiny_config(**model))
    return out.to(dtype)


def random_lora(model: UniAD, seed: int = 1) -> None:
    """Non-zero A0/B0, as an AD-pretrained file holds."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model.llm):
            for table in (layer.lora_A["default"], layer.lora_B["default"]):
                w = table.weight
                w.copy_(torch.randn(w.shape, generator=g, dtype=w.dtype) * 0.2)


class FixedMask(nn.Module):
    """Stands in for LoRA's dropout: multiplies by a mask fixed per input shape."""

    def __init__(self, p: float, seed: int) -> None:
        super().__init__()
        self.p, self.seed, self.masks = p, seed, {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape not in self.masks:
            g = torch.Generator().manual_seed(self.seed + len(self.masks))
            keep = torch.rand(x.shape, generator=g) >= self.p
            self.masks[x.shape] = keep.to(x.dtype) / (1 - self.p)
        return x * self.masks[x.shape]


def fix_dropout(model: UniAD, p: float = 0.5) -> dict[str, FixedMask]:
    masks = {}
    for name, layer in model.llm.named_modules():
        if hasattr(layer, "lora_dropout") and "default" in getattr(layer, "lora_dropout", {}):
            masks[name] = layer.lora_dropout["default"] = FixedMask(p, seed=len(masks))
    return masks


class Reference(nn.Module):
    """``(W - s B0 A0) x + s B A drop(x)``, by hand, on a copy of the plain base layer."""

    def __init__(self, weight, a0, b0, a, b, scale, drop, shift: bool) -> None:
        super().__init__()
        self.weight = weight - (scale * b0 @ a0 if shift else 0)
        self.a, self.b, self.scale, self.drop = a, b, scale, drop

    def forward(self, x):
        return F.linear(x, self.weight) + self.scale * (self.drop(x) @ self.a.T @ self.b.T)


def reference_llm(model: UniAD, weights: dict, initial: dict, masks: dict, shift: bool) -> nn.Module:
    """A copy of the LLM whose LoRA projections are :class:`Reference` layers over the plain
    ``weights``, with the model's current LoRA."""
    plain = copy.deepcopy(model.llm.get_base_model())
    for name, layer in model.llm.named_modules():
        if name not in masks:
            continue
        a0, b0 = initial[name]
        ref = Reference(weights[name], a0, b0,
                        layer.lora_A["default"].weight.detach(), layer.lora_B["default"].weight.detach(),
                        layer.scaling["default"], masks[name], shift)
        parent_name, child = name.rsplit(".", 1)
        parent = plain.get_submodule(parent_name.removeprefix("base_model.model."))
        setattr(parent, child, ref)
    return plain


@pytest.mark.parametrize("semantics", ["shipped", "active"])
def test_train_mode_logits_follow_the_release_arithmetic(semantics):
    model = build(release_lora_train=semantics, release_lora="shipped")
    random_lora(model)
    model.eval()
    masks = fix_dropout(model)
    plain = {name: layer.base_layer.weight.detach().clone()
             for name, layer in model.llm.named_modules() if name in masks}
    initial = {name: (layer.lora_A["default"].weight.detach().clone(),
                      layer.lora_B["default"].weight.detach().clone())
               for name, layer in model.llm.named_modules() if name in masks}
    model.train()
    # the trained LoRA moves away from A0/B0; the shift stays B0 A0 (loralib's unmerge)
    random_lora(model, seed=7)
    embeds = torch.randn(2, 9, 64, generator=torch.Generator().manual_seed(3))
    got = model.llm(inputs_embeds=embeds).logits
    model.eval()  # a validation round in between: training resumes on the same W - B0A0,
    model.train()  # as under loralib (its eval() merges B A, its train() unmerges the same)
    torch.testing.assert_close(model.llm(inputs_embeds=embeds).logits, got, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        ref = reference_llm(model, plain, initial, masks, shift=semantics == "shipped")
        want = ref(inputs_embeds=embeds).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    model.eval()  # evaluation sees the plain weights again, adapters off (release_lora=shipped)
    for name, layer in model.llm.named_modules():
        if name in plain:
            torch.testing.assert_close(layer.base_layer.weight, plain[name], rtol=0, atol=1e-6)
    assert not any(layer.lora_A["default"].weight.requires_grad for layer in lora_layers(model.llm))


def test_shipped_with_a_frozen_lora_only_adds_dropout_noise():
    """``Wx + B0A0(drop(x) - x)``: without dropout the shipped forward is the plain LLM."""
    model = build(release_lora_train="shipped")
    random_lora(model)
    model.eval()
    model.config.model.release_lora = "shipped"
    model.apply_release_lora()
    embeds = torch.randn(1, 5, 64)
    with torch.no_grad():
        plain = model.llm(inputs_embeds=embeds).logits
        model.train()
        trained = model.llm(inputs_embeds=embeds).logits
    torch.testing.assert_close(trained, plain, rtol=1e-5, atol=1e-5)


def samples_with_variety():
    """Varied prompt lengths (characters, frames), targets, and one sample without a negative."""
    return [
        make_sample("a", characters=(("Anna Berg", "Emma Stone"), ("Tom", "Ryan Gosling")),
                    target="She sits down.", seed=1),
        make_sample("b", characters=(), frames=6, context=("Tom walks across the long street.",),
                    target="He picks up the phone and listens to the voice.", seed=2),
        make_sample("c", characters=(("Tom", "Ryan Gosling"),), context=(), target="The dog barks.", seed=3),
        make_sample("d", characters=(("A", "B"), ("C", "D"), ("E", "F")), context=("They dance.",),
                    target="Two men run along the beach at sunset.", seed=4),
    ]


def rms_norm_in_input_dtype(self, hidden):
    """LlamaRMSNorm without its float32 round trip, which would cap a float64 comparison at
    float32's precision (the two passes add their attention terms in different orders)."""
    variance = hidden.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden * torch.rsqrt(variance + self.variance_epsilon))


@pytest.mark.parametrize("dtype,tol,attention", [(torch.float64, 1e-10, "default"), (torch.float32, 1e-5, "default"),
                                                 (torch.float32, 1e-5, "eager")])
@pytest.mark.parametrize("per_sample", [False, True])
def test_shared_pass_equals_two_passes(dtype, tol, attention, per_sample, monkeypatch):
    """The packed shared pass (each sample's span attending to itself with the model's own
    attention function: SDPA, or the release's eager) equals two padded passes."""
    if dtype is torch.float64:
        from transformers.models.llama.modeling_llama import LlamaRMSNorm

        monkeypatch.setattr(LlamaRMSNorm, "forward", rms_norm_in_input_dtype)
    samples = samples_with_variety()
    results = {}
    for mode in ("separate", "shared"):
        model = build(dtype, negative_pass=mode, contrastive_per_sample=per_sample, train_lora=True,
                      attention=attention)
        random_lora(model)
        model.train()
        out = model(samples)
        # the hinge may be zero on random weights: backpropagate the margin too
        (out["loss"] + out["margin"].sum()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results[mode] = ({k: out[k].detach() for k in ("loss", "ce", "hinge", "margin")}, grads)
    (values_a, grads_a), (values_b, grads_b) = results["separate"], results["shared"]
    for key in values_a:
        torch.testing.assert_close(values_b[key], values_a[key], rtol=tol, atol=tol)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    assert any("lora_" in n for n in grads_a) and any("mapper" in n for n in grads_a)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=tol, atol=tol, msg=name)


def test_shared_pass_reads_the_prompt_once_without_padding():
    """One LLM call over one packed row: every sample's prompt, positive and negative (if
    any) end to end, no padding; attention per sample, configured attention back after."""
    model = build(negative_pass="shared")
    model.train()
    samples = samples_with_variety()
    calls, spans = [], []

    def record(module, args, kwargs) -> None:
        calls.append(kwargs["inputs_embeds"].shape)
        spans.append(kwargs["packed_spans"])

    handle = model.llm.get_base_model().get_decoder().register_forward_pre_hook(record, with_kwargs=True)
    model(samples)
    handle.remove()
    real = []
    for s in samples:
        negative = previous_ad(s)
        neg = 0 if negative is None else sum(len(x.ids) for x in model.builder.target_segments(negative))
        real.append(sequence_length(model.builder.build(s)) + neg)
    assert calls == [(1, sum(real), 64)]
    assert [end - start for start, end in spans[0]] == real
    assert spans[0][0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans[0], spans[0][1:]))
    assert model.llm.config._attn_implementation == "uniad_packed_sdpa"  # while training
    model.eval()
    assert model.llm.config._attn_implementation == "sdpa"


def test_shared_pass_under_gradient_checkpointing():
    """Checkpointing recomputes each layer in backward, after the packed forward returned:
    the recompute must attend per sample too, so gradients equal those without it."""
    grads = {}
    for checkpointing in (False, True):
        model = build(negative_pass="shared", train_lora=True)
        random_lora(model)
        if checkpointing:
            model.llm.get_base_model().activation_checkpointing_enable({"use_reentrant": False})
        model.train()
        out = model(samples_with_variety())
        (out["loss"] + out["margin"].sum()).backward()
        grads[checkpointing] = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert grads[True].keys() == grads[False].keys()
    for name, grad in grads[False].items():
        torch.testing.assert_close(grads[True][name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_without_negatives_the_shared_pass_still_packs_and_equals_the_padded_batch():
    """Contrastive off (the demo preset): "shared" lays the positives end to end in one row,
    computing no padding, with the padded batch's ("separate") loss and gradients."""
    samples = samples_with_variety()
    results = {}
    for mode in ("separate", "shared"):
        model = build(negative_pass=mode, contrastive_loss=False, train_lora=True)
        random_lora(model)
        model.train()
        shapes = []
        decoder = model.llm.get_base_model().get_decoder()
        handle = decoder.register_forward_pre_hook(
            lambda module, args, kwargs: shapes.append(tuple(kwargs["inputs_embeds"].shape)), with_kwargs=True)
        out = model(samples)
        handle.remove()
        out["loss"].backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results[mode] = (out["loss"].detach(), grads, shapes)
    real = [sequence_length(model.builder.build(s)) for s in samples]
    assert results["shared"][2] == [(1, sum(real), 64)]
    assert results["separate"][2] == [(len(samples), max(real), 64)]
    (loss_a, grads_a, _), (loss_b, grads_b, _) = results["separate"], results["shared"]
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-5)
    assert grads_a.keys() == grads_b.keys() and any("lora_" in n for n in grads_a)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-5, atol=1e-5, msg=name)
