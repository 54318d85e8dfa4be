"""The one exception tree of wqm.

Every error the library raises is a ``WqmError``; front ends catch it once and
show its message (one sentence saying what was wrong and what to do)::

    WqmError
    ├── ConfigError            a setting has a value we cannot use
    ├── InvalidArgument        a caller passed a value outside its domain
    ├── IdentityError          the project of a path cannot be determined
    │   ├── NotADirectory      the path is missing or not a folder
    │   ├── GitError           git failed, or the repository has no commits
    │   └── InvalidRemoteURL   a remote URL cannot be parsed
    ├── InvalidName            a collection or alias name breaks the name rules
    ├── AliasError             an alias operation was refused
    │   ├── AliasNotFound      no alias has that name
    │   ├── CollectionNotFound the name reaches no collection
    │   ├── AliasConflict      the name is taken (by a collection or another alias)
    │   ├── LastNameError      the change would leave a project's data unreachable
    │   └── PreconditionFailed an alias no longer points where the caller expected
    ├── RegistryError          the SQLite registry cannot be used
    │   ├── RegistryDamaged    the registry file is not a database SQLite can read
    │   └── SchemaTooNew       the registry was written by a newer wqm
    ├── StoreError             Qdrant refused or failed an operation
    │   └── StoreLocked        another process holds the embedded store
    ├── ModelError             an embedding model cannot be loaded
    ├── NothingToDo            (not a failure) the requested change is already in place
    ├── ServiceError           the workspace service cannot be reached or failed
    │   └── ProtocolError      a frame on the service socket could not be read
    └── Cancelled              the service is stopping: the operation stopped early
"""

from __future__ import annotations


class WqmError(Exception):
    """Base of every error raised by wqm; its message is meant for the user."""


class ConfigError(WqmError):
    """A setting has a value wqm cannot use."""


class InvalidArgument(WqmError):
    """A caller passed a value outside what the operation accepts."""


class IdentityError(WqmError):
    """The project identity of a path cannot be determined."""


class NotADirectory(IdentityError):
    """The path given as a project does not exist or is not a directory."""


class GitError(IdentityError):
    """git failed on the project, or the repository has no commits yet."""


class InvalidRemoteURL(IdentityError):
    """A git remote URL cannot be parsed into host and path."""


class InvalidName(WqmError):
    """A collection or alias name breaks the naming rules."""


class AliasError(WqmError):
    """An alias operation was refused."""


class AliasNotFound(AliasError):
    """No alias has the given name."""


class CollectionNotFound(AliasError):
    """The given name reaches no collection."""


class AliasConflict(AliasError):
    """The name is already taken by a collection or by an alias pointing elsewhere."""


class LastNameError(AliasError):
    """The change would leave a project's data reachable under no name."""


class PreconditionFailed(AliasError):
    """An alias no longer points where the caller expected (compare-and-swap lost)."""


class RegistryError(WqmError):
    """The SQLite registry cannot be opened or used."""


class RegistryDamaged(RegistryError):
    """The registry file is not a database SQLite can read (only this is rebuilt by doctor)."""


class SchemaTooNew(RegistryError):
    """The registry was written by a newer wqm than this one."""


class StoreError(WqmError):
    """Qdrant refused or failed an operation."""


class StoreLocked(StoreError):
    """Another process holds the embedded Qdrant store."""


class ModelError(WqmError):
    """An embedding model cannot be loaded."""


class NothingToDo(WqmError):
    """The requested change is already in place (callers usually exit 0)."""


class ServiceError(WqmError):
    """The workspace service cannot be reached, or it failed the request."""


class ProtocolError(ServiceError):
    """A frame on the service socket was too large or not valid JSON."""


class Cancelled(WqmError):
    """The workspace service is stopping, so a running operation stopped early."""


__all__ = [
    "AliasConflict",
    "AliasError",
    "AliasNotFound",
    "Cancelled",
    "CollectionNotFound",
    "ConfigError",
    "GitError",
    "IdentityError",
    "InvalidArgument",
    "InvalidName",
    "InvalidRemoteURL",
    "LastNameError",
    "ModelError",
    "NotADirectory",
    "NothingToDo",
    "PreconditionFailed",
    "ProtocolError",
    "RegistryError",
    "SchemaTooNew",
    "ServiceError",
    "StoreError",
    "StoreLocked",
    "WqmError",
]
