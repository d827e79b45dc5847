"""The portal's tests reuse the returns tests' delivered orders and the support desk."""

from tests.returns.conftest import case, delivered, north, phone  # noqa: F401
from tests.support.conftest import agents, desk  # noqa: F401
