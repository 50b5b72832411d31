"""GAS annotation engine: VCF in, annotated VCF + count log + summary JSON out.

A standalone library: it imports nothing from the rest of ``gas``.

    from gas.annotation import annotate_file
    outputs = annotate_file(Path("sample.vcf.gz"), Path("out"))
"""

from .engine import AnnotationOutputs, annotate_file, output_stem
from .errors import AnnotationError, InvalidInputError
from .limits import InputLimits

__all__ = [
    "AnnotationError",
    "AnnotationOutputs",
    "InputLimits",
    "InvalidInputError",
    "annotate_file",
    "output_stem",
]
