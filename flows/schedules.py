"""The two deployments `ewarn serve` serves: nightly scoring and weekly retraining, on cron schedules."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.settings import Settings

NIGHTLY, RETRAIN = "ewarn-nightly", "ewarn-retrain"


class ScheduleError(ValueError):
    """A cron expression or timezone that cannot be used."""


def _check(cron: str, timezone: str, what: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"--timezone: {timezone!r} is not an IANA timezone name (e.g. Europe/Amsterdam)"
        ) from None
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValueError:
        raise ScheduleError(
            f"{what}: {cron!r} is not a cron expression (five fields, e.g. '0 2 * * *')"
        ) from None


def deployments(settings: Settings) -> list[Any]:
    """The nightly and retrain deployments with their cron schedules and parameters."""
    from prefect.schedules import Cron

    from flows.nightly import nightly
    from flows.retrain import retrain

    _check(settings.nightly_cron, settings.timezone, "--nightly-cron")
    _check(settings.retrain_cron, settings.timezone, "--retrain-cron")
    # The whole typed settings object, so each deployment records what its runs use.
    parameters = {"settings": settings.resolved().model_dump(mode="json")}
    tags = ["ewarn"]
    return [
        nightly.to_deployment(
            name=NIGHTLY,
            schedules=[Cron(settings.nightly_cron, timezone=settings.timezone, slug="nightly")],
            parameters=parameters,
            tags=tags,
            description="Score the latest week and publish explained flags.",
        ),
        retrain.to_deployment(
            name=RETRAIN,
            schedules=[Cron(settings.retrain_cron, timezone=settings.timezone, slug="weekly-retrain")],
            parameters=parameters,
            tags=tags,
            description="Back-test, train, compare with the champion, promote or not.",
        ),
    ]


def serve_deployments(planned: list[Any]) -> None:
    """Register the deployments with the Prefect API and run their scheduled runs until stopped."""
    from prefect import serve

    serve(*planned)
