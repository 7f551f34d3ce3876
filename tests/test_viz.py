"""Drawing helpers: tendon colouring of the muscles."""

from __future__ import annotations

import numpy as np

from thighmap.viz import scene


def test_semitendinosus_is_tendon_distally_and_muscle_in_its_belly(atlas):
    st = atlas.structures["semitendinosus"]
    mesh = atlas.mesh("semitendinosus")
    w = scene.tendon_weights(st, mesh)
    assert w is not None and len(w) == len(mesh.vertices)
    z = mesh.vertices[:, 2]
    assert np.all(w[z < 20.0] > 0.9)  # the long distal tendon
    belly = np.abs(z - 215.0) < 10.0
    assert np.all(w[belly] == 0.0)
    colours = scene.structure_colours(st, "semitendinosus", mesh)
    assert colours is not None and colours.shape == (len(mesh.vertices), 3)
    tendon = scene._hex_rgb(scene.KIND_COLOURS["tendon"])
    np.testing.assert_allclose(colours[np.argmin(z)], tendon, atol=1.0)


def test_bulky_muscles_and_other_kinds_keep_one_colour(atlas):
    assert (
        scene.structure_colours(
            atlas.structures["gluteus_maximus"], "gluteus_maximus", atlas.mesh("gluteus_maximus")
        )
        is None
    )
    assert (
        scene.structure_colours(
            atlas.structures["sciatic_nerve"], "sciatic_nerve", atlas.mesh("sciatic_nerve")
        )
        is None
    )
