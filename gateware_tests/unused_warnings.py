"""A check that refused constructions leave no Elaboratable behind to warn about."""

import contextlib
import gc
import warnings

from amaranth.hdl import Fragment, Module, UnusedElaboratable


@contextlib.contextmanager
def no_unused_elaboratable_warning():
    """Fail if an Elaboratable made inside the block warns "created but never used" when it is
    collected (as one whose constructor raised does, unless it refused before
    ``Elaboratable.__new__``). Amaranth keeps that warning silent until the process's first
    elaboration, so the block starts with one."""
    Fragment.get(Module(), None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    unused = [str(w.message) for w in caught if issubclass(w.category, UnusedElaboratable)]
    assert unused == [], f"refused constructions left unused Elaboratables: {unused}"
