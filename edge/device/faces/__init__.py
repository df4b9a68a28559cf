"""Face detection and tracking: where the faces are in each frame, as boxes to obscure.

`model` finds and hash-checks the model file, `centerface` runs it, `tracker` carries
boxes across frames, `changes` tells which parts of the frame changed since the last
scan, and `finder` decides where to look in each frame.
"""
