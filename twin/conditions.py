"""Operating conditions at one instant: the argument every step and every forward model receives.

A :class:`Conditions` is a pytree of JAX scalars/arrays (so a whole protocol can be a batched
``Conditions`` with a leading ``n_frames`` axis and be mapped with ``vmap``/``lax.scan``), with the guest
names as static metadata.

Units: temperature [K], partial pressures of the dry gases [Pa] (order of ``guests``), relative humidity
[fraction, 0–1; the water partial pressure is RH·p_sat(T)], time [s].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["Conditions"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Conditions:
    """Temperature, partial pressures and humidity at time ``time_s``.

    Attributes:
        temperature_K: absolute temperature [K], shape (...).
        partial_pressure_Pa: partial pressure of each dry guest gas [Pa], shape (..., n_guests).
        relative_humidity: relative humidity [0–1], shape (...).
        time_s: time since the start of the protocol [s], shape (...).
        guests: guest names in the order of the last axis of ``partial_pressure_Pa`` (static).
    """

    temperature_K: Float[Array, "..."]
    partial_pressure_Pa: Float[Array, "... n_guests"]
    relative_humidity: Float[Array, "..."]
    time_s: Float[Array, "..."]
    guests: tuple[str, ...] = field(default=(), metadata={"static": True})

    @classmethod
    def make(
        cls,
        temperature_K: float,
        partial_pressure_Pa: dict[str, float] | None = None,
        relative_humidity: float = 0.0,
        time_s: float = 0.0,
        dtype=jnp.float32,
    ) -> "Conditions":
        """Single-instant conditions from plain numbers, e.g. ``Conditions.make(303.0, {"CO2": 1e5})``."""
        pressures = partial_pressure_Pa or {}
        return cls(
            temperature_K=jnp.asarray(temperature_K, dtype),
            partial_pressure_Pa=jnp.asarray(list(pressures.values()), dtype).reshape(len(pressures)),
            relative_humidity=jnp.asarray(relative_humidity, dtype),
            time_s=jnp.asarray(time_s, dtype),
            guests=tuple(pressures),
        )

    def pressure_of(self, guest: str) -> Float[Array, "..."]:
        """Partial pressure [Pa] of one guest (0 if the guest is absent)."""
        if guest not in self.guests:
            return jnp.zeros_like(self.temperature_K)
        return self.partial_pressure_Pa[..., self.guests.index(guest)]
