"""Who is who: handling units, service stations and the working-day calendar."""
