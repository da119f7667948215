"""benchmarks/validate_latency.py's consistency rule: a measured row slower than a network of the same table that runs
every layer it runs, and more, contradicts its table and is dropped (the zoo's GPU fixtures and the wide set)."""

from __future__ import annotations

from pathlib import Path

from costmodel.api import load_graph
from costmodel.calibration.measurements import Matched, Measurement

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "arch_specs"


def graph(name: str, **overrides: object):
    return load_graph(SPECS / f"{name}.yaml", batch=1, overrides=overrides or None)


def test_containment_follows_the_architectures(validate) -> None:
    # timm's cfg 'vgg19' (E) is cfg 'vgg16' (D) with a fourth conv in the 256- and 512-channel groups (Simonyan &
    # Zisserman, Table 1); ResNet-34's stages [3, 4, 6, 3] hold ResNet-18's [2, 2, 2, 2] basic blocks and more
    # (He et al., Table 1); ResNet-50's bottleneck blocks are other layers.
    vgg16, vgg19 = graph("vgg16"), graph("vgg16", depths=[2, 2, 4, 4, 4])
    assert validate.contains(vgg19, vgg16) and not validate.contains(vgg16, vgg19)
    assert not validate.contains(vgg16, vgg16)  # strictly more
    resnet18, resnet34 = graph("resnet18"), graph("resnet34")
    assert validate.contains(resnet34, resnet18) and not validate.contains(resnet18, resnet34)
    assert not validate.contains(graph("resnet50"), resnet18)
    # the same layers on other shapes are other layers: VGG-16 at 256 px does not contain it at 224 px
    at_256 = load_graph(SPECS / "vgg16.yaml", batch=1, input_shapes={"image": [3, 256, 256]}, overrides=None)
    assert not validate.contains(at_256, graph("vgg16", depths=[2, 2, 2, 2, 2]))


def rows(*entries: tuple[str, float, int]) -> list[Matched]:
    return [Matched(Measurement(model=name, batch=batch, image_size=224, throughput=per_s), SPECS / f"{name}.yaml")
            for name, per_s, batch in entries]


def test_a_row_slower_than_a_network_that_contains_it_is_contradicted(validate) -> None:
    # ResNet-18 measured at 4,000/s and ResNet-34 at 5,000/s: ResNet-18 takes 1/0.8 of the time of a network that
    # runs all of it and more
    found = validate.contradicted(rows(("resnet18", 4000, 1024), ("resnet34", 5000, 1024)))
    assert list(found) == ["resnet18"]
    assert "resnet34 (5,000/s), which runs every layer it runs and more" in found["resnet18"]
    # within the margin (ResNet-34 5 % faster), at another batch, or the plausible order: nothing
    assert validate.contradicted(rows(("resnet18", 4000, 1024), ("resnet34", 4200, 1024))) == {}
    assert validate.contradicted(rows(("resnet18", 4000, 256), ("resnet34", 5000, 1024))) == {}
    assert validate.contradicted(rows(("resnet18", 9000, 1024), ("resnet34", 5000, 1024))) == {}


def test_the_zoo_tables_contradict_vgg16_on_the_rtx3090_only(validate) -> None:
    # timm's RTX 3090 table: vgg16 1,021.7/s, vgg19 1,266.93/s (4,090: 2,235.61 and 2,044.71; compile 3,852.37 and
    # 3,214.49); 1,021.7 < 0.9 x 1,266.93 = 1,140.2
    by_label = {case.label: case for case in validate.CASES}
    bad = by_label["rtx3090 eager amp"].contradicted()
    assert list(bad) == ["vgg16"] and "vgg19 (1,267/s)" in bad["vgg16"]
    assert "vgg16" not in {m.measurement.model for m in by_label["rtx3090 eager amp"].rows()}
    for label in ("rtx4090 eager amp", "rtx4090 compile amp"):
        assert by_label[label].contradicted() == {}
        assert "vgg16" in {m.measurement.model for m in by_label[label].rows()}


def test_the_wide_set_drops_a_contradicted_row(validate, wide_set, wide_stand_in) -> None:
    lines = ["resnet18,224,4000,256,1024,11.69,1.82", "resnet34,224,5000,204.8,1024,21.8,3.67"]
    wide_stand_in(dict.fromkeys(wide_set.TABLES, lines), {"resnet18": "resnet18", "resnet34": "resnet34"},
                  extends=["resnet18"])  # resnet34.yaml extends it
    dropped: list[str] = []
    kept = validate.wide_rows("rtx3090", wide_set.cached_specs(), dropped)
    assert [m.measurement.model for m in kept] == ["resnet34"]
    assert len(dropped) == 1 and dropped[0].startswith("resnet18 (4,000/s) slower than resnet34")
