"""The STATUS bit-field table (rtl/spec/regmap.py) agrees with the STATUS_* masks and names."""

from thermospu.rtl.spec import regmap as rm


def test_status_fields_are_the_status_masks():
    offsets = rm.bit_field_offsets(rm.STATUS_FIELDS)
    masks = {name.rpartition(".")[2]: 1 << low for name, (low, width) in offsets.items()
             if width == 1}
    for name, mask in masks.items():
        assert getattr(rm, f"STATUS_{name.upper()}") == mask, name
    assert {mask: name.replace("_", " ") for name, mask in masks.items()} == rm.STATUS_BITS


def test_status_word_width():
    # The word the driver reads: 16 bits, of which 4 + 4 are reserved (read 0).
    assert rm.bit_field_width(rm.STATUS_FIELDS) == 16
    assert sum(w for _, w in rm.bit_field_offsets(rm.STATUS_FIELDS).values()) == 8
