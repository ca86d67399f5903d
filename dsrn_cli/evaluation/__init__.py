"""Measuring as SR papers do: PSNR/SSIM/IFC on Y, the bench loop, the published numbers,
the benchmark datasets."""
