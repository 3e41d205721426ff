"""Property-based tests: the data validator and the stabilizer spec parser never crash.

Arbitrary arrays (any dtype, shape, NaN/inf, range) and arbitrary spec strings
get either a valid result or a ``ValueError`` with a message -- never another
exception.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from genkeras import data
from genkeras.stabilizers.spec import parse_spec

DTYPES = st.sampled_from(
    ["int8", "int32", "int64", "uint8", "float16", "float32", "float64", "bool", "complex64"]
)


@st.composite
def arrays(draw):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
    return draw(hnp.arrays(np.dtype(dtype), shape))


@given(x=arrays(), levels=st.one_of(st.none(), st.integers(-3, 20)))
@settings(max_examples=300, deadline=None)
def test_validate_arrays_returns_canonical_data_or_a_data_error(x, levels):
    try:
        out = data.validate_arrays("npz:f.npz", x, "x_train", levels)
    except data.DataError as exc:
        assert "npz:f.npz: x_train" in str(exc)
        return
    assert out.ndim in (2, 4) and len(out) >= 1
    if out.dtype == np.float32:
        assert np.all(np.isfinite(out))
    else:
        assert out.dtype == np.int32 and out.min() >= 0
        if levels is not None:
            assert out.max() < levels


@given(x=arrays(), extra=st.sampled_from(["none", "levels", "split", "labels", "junk-levels"]))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_load_npz_of_anything_loads_or_says_what_is_wrong(tmp_path, x, extra):
    path = tmp_path / "f.npz"
    arrays = {"x": x}
    if extra == "levels":
        arrays["levels"] = np.array(5)
    if extra == "junk-levels":
        arrays["levels"] = np.array([1.5, 2.0])
    if extra == "split":
        arrays = {"x_train": x, "x_test": x[:1] if x.ndim else x}
    if extra == "labels":
        arrays["y"] = np.arange(len(x) if x.ndim else 1)
    np.savez(path, **arrays)
    try:
        spec = data.load(f"npz:{path}")
    except data.DataError as exc:
        assert str(path) in str(exc)
        return
    assert len(spec.x_train) >= 1 and len(spec.x_test) >= 1
    assert spec.x_train.shape[1:] == spec.x_test.shape[1:]


@given(
    text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
    | st.from_regex(r"[a-z-]{1,12}(:([a-z_-]{1,6}(=[-0-9a-z.]{0,5})?,?){0,4})?", fullmatch=True)
)
@settings(max_examples=400, deadline=None)
def test_parse_spec_returns_a_name_and_options_or_a_value_error(text):
    try:
        name, options = parse_spec(text)
    except ValueError as exc:
        assert "Received: spec=" in str(exc)
        return
    assert name == name.strip() and name and ":" not in name
    for key in options:
        assert key and "-" not in key and "=" not in key


@pytest.mark.parametrize("spec", ["", ":a=1", "name:novalue", "name:=3", 7])
def test_parse_spec_refuses_malformed_specs(spec):
    with pytest.raises(ValueError, match="Received: spec="):
        parse_spec(spec)


def test_a_float64_value_beyond_float32_is_refused_not_turned_into_inf():
    """Found by the property test above on CI: 3.4028236e38 is finite in float64 only."""
    with pytest.raises(data.DataError, match="float32"):
        data.validate_arrays("npz:f.npz", np.array([[3.40282357e38]]), "x_train", None)


def test_integers_beyond_int32_are_refused_not_wrapped():
    """2**31 would wrap to a negative level when cast to int32."""
    with pytest.raises(data.DataError, match="fit in int32"):
        data.validate_arrays("npz:f.npz", np.array([[2**31]]), "x_train")
