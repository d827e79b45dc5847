"""Every write to stock and units. `stock` keeps the ledger of quantities; `units` the serial numbers of
serial-tracked units and their history. Import from here: `from inventory.services import stock_receive`."""

from .receipts import goods_receipt_create, register_receipt_listener
from .stock import (
    AllocationPlan,
    low_stock_check,
    stock_adjust,
    stock_allocate,
    stock_level_set_bin,
    stock_plan,
    stock_receive,
    stock_release,
    stock_return,
    stock_ship,
    stock_take,
    stock_transfer,
)
from .units import (
    serial_normalize,
    unit_shipped_to,
    units_dispose,
    units_pack,
    units_receive,
    units_receive_return,
    units_return_to_stock,
    units_ship,
    units_unpack,
)

__all__ = [
    "goods_receipt_create", "register_receipt_listener",
    "AllocationPlan", "low_stock_check", "stock_adjust", "stock_allocate", "stock_level_set_bin", "stock_plan",
    "stock_receive", "stock_release", "stock_return", "stock_ship", "stock_take", "stock_transfer",
    "serial_normalize", "unit_shipped_to", "units_dispose", "units_pack", "units_receive", "units_receive_return",
    "units_return_to_stock", "units_ship", "units_unpack",
]
