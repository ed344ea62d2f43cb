"""The refill flow's direct functions and action handler (plain Pipecat Flows code)."""

from __future__ import annotations

from typing import Any

from pipecat.flows import TRANSITION_IN_YAML, FlowManager

PRESCRIPTIONS = {"atorvastatin": 2, "metformin": 0}


async def find_prescription(flow_manager: FlowManager, medicine: str) -> tuple[dict[str, Any], Any]:
    """Look up the caller's prescription.

    Args:
        medicine: The medicine the caller wants refilled, such as atorvastatin.
    """
    name = medicine.strip().lower()
    flow_manager.state["medicine"] = name
    return {"medicine": name, "refills_left": PRESCRIPTIONS.get(name, 0)}, TRANSITION_IN_YAML


async def record_pickup(flow_manager: FlowManager, delivery: bool) -> tuple[dict[str, Any], Any]:
    """Record how the caller gets the medicine.

    Args:
        delivery: True to have it delivered, false to pick it up in the store.
    """
    flow_manager.state["pickup"] = "delivery" if delivery else "pickup in the store"
    return {"delivery": delivery}, TRANSITION_IN_YAML


async def notify_prescriber(action: dict[str, Any], flow_manager: FlowManager) -> None:
    flow_manager.state["prescriber_notified"] = True
