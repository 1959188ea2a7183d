"""Errors the assistant raises; each message says what went wrong and what to do."""


class AssistantError(Exception):
    """Base class: the CLI and UI turn these into one clear line, never a traceback."""


class ConfigError(AssistantError):
    """A setting has a bad value."""


class DocumentError(AssistantError):
    """A document could not be read or is empty."""


class IndexStoreError(AssistantError):
    """The vector index could not be opened or written."""


class MissingDependencyError(AssistantError):
    """An optional dependency is not installed; the message names the extra."""


def missing(package: str, extra: str) -> MissingDependencyError:
    """Build the error for a missing optional package."""
    return MissingDependencyError(
        f"{package} is not installed; install it with: pip install 'article-assistant[{extra}]'"
    )
