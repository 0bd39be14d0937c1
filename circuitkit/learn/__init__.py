"""Learning with analog RRAM hardware in the loop: hybrid training of a small CNN on
multi-level crossbars (Yao et al., Nature 2020) and STELLAR-style on-chip learning with
identical SET/RESET pulses (Zhang et al., Science 2023), both on the fitted device
models and real MNIST.

`cnn` (the real-valued software CNN), `hybrid` (transfer to simulated chips, then the
last layer retrained in situ), `stellar` (the sign/threshold rule on devices whose
update per pulse comes from the fitted pulse model), `cli` (`circuitkit learn ...`).
"""
