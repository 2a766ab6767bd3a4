from netmeasure.cli import main

main()
