"""Errors raised by the Tandem CLI and its library functions.

    TandemError                 base; carries the process exit code
    ├── ManifestError           models.yaml is unreadable or invalid       (exit 2)
    ├── ExportError             a model cannot be exported as declared     (exit 2)
    │   ├── ParityError         the artifact disagrees with its source     (exit 2)
    │   └── TwinDisagreement    a twin's variants answer differently       (exit 2)
    ├── StackError              a local backend failed to start or stop    (exit 1)
    ├── K8sError                a Kubernetes render, fetch or apply failed  (exit 1)
    └── MissingExtraError       a command needs an extra not installed      (exit 2)

Every message is one line that names the file, the model and the field where known, so a
user can act on it without reading a traceback.
"""

from __future__ import annotations


class TandemError(Exception):
    """Base class: `exit_code` is what the CLI exits with."""

    exit_code: int = 1


class ManifestError(TandemError):
    exit_code = 2


class ExportError(TandemError):
    exit_code = 2


class ParityError(ExportError):
    exit_code = 2


class TwinDisagreement(ExportError):
    """The variants of a twin disagree on the sample inputs beyond the declared tolerance."""


class StackError(TandemError):
    exit_code = 1


class K8sError(TandemError):
    exit_code = 1


class MissingExtraError(TandemError):
    """The command imports a package of an optional extra that is not installed; the
    message names the extra and the pip line that brings it (tandem/extras.py)."""

    exit_code = 2
