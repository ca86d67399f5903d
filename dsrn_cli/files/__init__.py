"""What a file is: a decoded :class:`~.picture.Picture`, reading and writing it at its own
depth with its alpha, profile and metadata, one module per format's special cases, the
output formats as data (:mod:`.formats`), dsrn's temp files, and what a video file is.
Imports no other room."""
