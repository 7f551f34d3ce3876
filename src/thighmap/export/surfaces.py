"""Structure surfaces as VTK XML PolyData (.vtp) in LPS or RAS, the way 3D Slicer reads them.

3D Slicer takes a model file's coordinate system from a string array named ``SPACE`` in
the field data of a .vtp file (``"LPS"`` or ``"RAS"``), and assumes LPS when there is
none (3D Slicer, Libs/MRML/Core/vtkMRMLModelStorageNode.cxx,
``GetCoordinateSystemFromFieldData``; "Model files are now saved in LPS coordinate
system", discourse.slicer.org/t/10446, 2020). ParaView and other VTK programs read the
same file and ignore the array.
"""

from __future__ import annotations

import os

import numpy as np

from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.atomic import atomic_destination
from thighmap.export.frames import flips_orientation, to_space


def surface_in_space(mesh: SurfaceMesh, space: str) -> SurfaceMesh:
    """The surface converted to ``space``, triangles reversed where the conversion mirrors,
    so normals computed from the winding still point outward."""
    faces = mesh.faces[:, ::-1] if flips_orientation(space) else mesh.faces
    return SurfaceMesh(to_space(mesh.vertices, space), np.ascontiguousarray(faces))


def write_vtp(mesh: SurfaceMesh, path: str | os.PathLike[str], space: str, structure_id: str) -> None:
    """Write ``mesh`` (in thighmap's frame) to ``path`` as binary .vtp in ``space``, atomically."""
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
    from vtkmodules.vtkCommonCore import vtkPoints, vtkStringArray
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkIOXML import vtkXMLPolyDataWriter

    out = surface_in_space(mesh, space)
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(out.vertices, dtype=np.float64), deep=True))
    n = len(out.faces)
    offsets = numpy_to_vtkIdTypeArray(np.arange(0, 3 * n + 1, 3, dtype=np.int64), deep=True)
    conn = numpy_to_vtkIdTypeArray(np.ascontiguousarray(out.faces, dtype=np.int64).ravel(), deep=True)
    cells = vtkCellArray()
    cells.SetData(offsets, conn)
    poly = vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    for name, value in (("SPACE", space), ("thighmap_structure", structure_id)):
        arr = vtkStringArray()
        arr.SetName(name)
        arr.InsertNextValue(value)
        poly.GetFieldData().AddArray(arr)
    with atomic_destination(path) as partial:
        writer = vtkXMLPolyDataWriter()
        writer.SetFileName(str(partial))
        writer.SetInputData(poly)
        writer.SetDataModeToAppended()
        writer.SetCompressorTypeToZLib()
        writer.EncodeAppendedDataOff()
        if writer.Write() != 1:
            raise OSError(f"{path}: VTK could not write the surface")
