"""Report stage: every plot of the flow (`plots.py`) and the HTML/Markdown report
(`html.py`), made from the artefacts and records the stages wrote. It computes no result
a stage did not, and no stage imports it except to draw.
"""
