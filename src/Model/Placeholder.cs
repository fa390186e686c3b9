namespace PagedSim.Model;
