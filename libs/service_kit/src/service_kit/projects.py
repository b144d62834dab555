"""The model projects a service knows: read whole from the ``projects`` topic at start,
then followed.

The topic is compacted and keyed by project name, so its start holds the newest version
of every project in every deployment. A service that serves, trains, monitors or judges
models asks the catalogue whether a model exists (an unknown model gets a clear answer,
never a training) and what its project declares.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import ConsumerRecord

from mlops_contracts import ContractError, Envelope, ProjectApplied, decode, topic_for
from mlops_contracts.projects import Project
from service_kit.kafka import Kafka
from service_kit.settings import ServiceSettings
from service_kit.subscriptions import Subscription, broadcast, each

logger = logging.getLogger(__name__)

PROJECTS_TOPIC = topic_for(ProjectApplied)


def _replica_group(settings: ServiceSettings) -> str:
    return f"{broadcast(settings)}.projects"


class UnknownModelError(LookupError):
    """A model no applied project declares."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        shown = ", ".join(self.known) or "none yet"
        super().__init__(
            f"no model project named {name!r} (applied: {shown}); "
            "apply one with `mlops project apply`"
        )


class ProjectCatalog:
    """The newest applied version of every project (see the module's docstring)."""

    def __init__(self, applied: Iterable[ProjectApplied] = ()) -> None:
        self._applied: dict[str, ProjectApplied] = {}
        for event in applied:
            self.learn(event)

    @classmethod
    async def load(cls, kafka: Kafka) -> ProjectCatalog:
        """The projects on the topic now."""
        return cls.from_records(await kafka.read_topic(PROJECTS_TOPIC.name))

    @classmethod
    def from_records(cls, records: Iterable[ConsumerRecord[bytes, bytes]]) -> ProjectCatalog:
        """The projects of the topic's ``records``, in topic order (a record that is not a
        valid ProjectApplied is logged and skipped: the topic is compacted, so a dead
        letter would repeat at every start)."""
        catalog = cls()
        for record in records:
            try:
                envelope = decode(
                    record.value, record.headers, key=record.key, expected_types=ProjectApplied
                )
            except ContractError as error:
                logger.error(
                    "a projects record is not a valid project; skipped",
                    extra={"offset": record.offset, "error": str(error)},
                )
                continue
            catalog.learn(envelope.data)
        return catalog

    def follow(self) -> Subscription[ProjectCatalog]:
        """The subscription that keeps this catalogue current: every replica reads every
        project, in a group of its own (``<service>-<instance>.projects``, beside any other
        group of the replica, so its joins never pause another consumer), deduplicated
        here by version."""
        return each(
            PROJECTS_TOPIC,
            lambda catalog: catalog.on_applied,
            group=_replica_group,
            idempotent=False,
        )

    async def on_applied(self, envelope: Envelope[ProjectApplied]) -> None:
        """A project applied while the service runs."""
        self.learn(envelope.data)

    def learn(self, event: ProjectApplied) -> bool:
        """Keep ``event`` if it is a newer version of its project than the one known (or
        another declaration at the same version: the later one)."""
        known = self._applied.get(event.project_name)
        if known is not None and (
            known.version > event.version or known.fingerprint == event.fingerprint
        ):
            return False  # older, or the same again; at one version the later one wins,
            # as the compacted topic keeps it
        self._applied[event.project_name] = event
        logger.info(
            "model project learned",
            extra={"project": event.project_name, "version": event.version},
        )
        return True

    @property
    def applied_projects(self) -> dict[str, ProjectApplied]:
        """The newest applied version of every project, by name."""
        return dict(self._applied)

    def __contains__(self, name: object) -> bool:
        return name in self._applied

    @property
    def names(self) -> tuple[str, ...]:
        """The applied projects' names, sorted."""
        return tuple(sorted(self._applied))

    def applied(self, name: str) -> ProjectApplied:
        """The newest applied version of project ``name``; :class:`UnknownModelError`."""
        try:
            return self._applied[name]
        except KeyError:
            raise UnknownModelError(name, self._applied) from None

    def project(self, name: str) -> Project:
        """What project ``name`` declares; :class:`UnknownModelError` when none does."""
        return self.applied(name).project
