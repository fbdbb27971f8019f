"""Scale-out on Ray: batch scoring (`graphc run --ray`) and data-parallel training
(`graphc train --workers N`); docs/scale.md."""
