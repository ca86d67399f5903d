"""Arrays in, arrays out, no network: MATLAB's colour conversion and bicubic resize (the
one cubic kernel and mirror), output-size planning, a video's chroma planes."""
