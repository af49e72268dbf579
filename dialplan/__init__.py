"""Call flows driven over FastAGI, on top of a pure core (menus, schedules, queueing)."""
