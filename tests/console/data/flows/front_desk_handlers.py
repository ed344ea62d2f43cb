"""The front desk flow's direct function (a console test fixture)."""

from __future__ import annotations

from typing import Any

from pipecat.flows import TRANSITION_IN_YAML, FlowManager


async def check_member(flow_manager: FlowManager, member_id: str) -> tuple[dict[str, Any], Any]:
    """Check the caller's membership.

    Args:
        member_id: The member number the caller reads out, such as A-100.
    """
    status = "active" if member_id.strip().upper().startswith("A") else "lapsed"
    return {"status": status}, TRANSITION_IN_YAML
