"""Backend adapters: one small interface (:class:`gateway.backends.base.Backend`), one
implementation per serving system, chosen by the route file's backend ``kind``."""
