"""Reading administrators' uploaded import files into normalised and typed rows."""
