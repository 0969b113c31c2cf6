"""The typed blocks a programme template is composed of.

Each block kind is one module here, owning its settings and the problems a
template can have with it; :mod:`cohortflow.domain.blocks.registry` registers
every kind once.
"""
