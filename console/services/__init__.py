"""Services: the business operations that commands, screens and the simulator all call."""
