"""wharf local AWS test bed: moto server plus an ECS lifecycle extension.

Run with ``python -m testbed.server``; see docs/testbed.md.
"""
