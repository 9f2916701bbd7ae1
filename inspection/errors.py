"""The station's exception tree; each message names the thing at fault and what to do."""


class InspectionError(Exception):
    """Base of every error the station raises on purpose."""


class ConfigError(InspectionError):
    """A configuration file or value is invalid."""


class CardError(InspectionError):
    """A model card is missing, unreadable or incomplete."""


class ModelLoadError(InspectionError):
    """An ONNX file cannot be loaded or does not match its card."""


class GoldenDriftError(ModelLoadError):
    """The model scores its reference images differently from when it was released."""


class ImageError(InspectionError):
    """An image cannot be read or has a layout the station cannot convert."""


class CameraError(InspectionError):
    """A camera, its producer or one of its features cannot be used as configured."""


class GoldenSampleError(InspectionError):
    """A golden sample was misjudged: the station must not run production until someone looks."""
