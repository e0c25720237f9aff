"""The README's activation table is the registry's (python -m torch_act activations --markdown)."""
import os

from torch_act import table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_activation_table_is_the_registry():
    text = open(os.path.join(ROOT, "README.md")).read()
    start = text.index("<!-- generated: python -m torch_act activations --markdown")
    body = text[text.index("\n", start) + 1:text.index("<!-- end generated -->")].strip()
    assert body == table.markdown(), (
        "README.md's activation table is out of date: regenerate it with "
        "`python -m torch_act activations --markdown`")
