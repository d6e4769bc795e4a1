"""Tests of ulsam_nas.training: the loop, proxy training and full training."""
