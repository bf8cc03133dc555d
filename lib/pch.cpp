// Anchor for the shared precompiled header (see cmake/MonocardCompiler.cmake).
