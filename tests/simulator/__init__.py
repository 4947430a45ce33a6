"""NGUC simulator: an in-process fake of Weblink's NGUC API and event pusher for tests and demos."""

from .demo import run_demo
from .model import (
    Account,
    Company,
    Device,
    Queue,
    QueueCaller,
    QueueMember,
    User,
    demo_company,
)
from .server import Simulator

__all__ = [
    "Account",
    "Company",
    "Device",
    "Queue",
    "QueueCaller",
    "QueueMember",
    "Simulator",
    "User",
    "demo_company",
    "run_demo",
]
